// Classify: an uploaded (or drawn, see drawing.js) image, its top labels and what the
// model saw.
import { api } from "./api.js";
import { $, element, showError } from "./dom.js";
import { fillModelSelect } from "./models.js";

let lastImage = null;

export function showClassifyModels() {
  fillModelSelect($("#classify-model"), "classify");
}

export async function classify(blob) {
  lastImage = blob;
  const errorBox = $("#classify-error");
  const params = new URLSearchParams({
    model: $("#classify-model").value,
    top_k: $("#classify-topk").value,
    return_input: "true",
  });
  const polarity = $("#classify-polarity").value;
  if (polarity) params.set("polarity", polarity);
  showError(errorBox, null);
  $("#classify-status").textContent = "Classifying…";
  try {
    const response = await api(`/v1/classify?${params}`, {
      method: "POST",
      headers: { "Content-Type": blob.type || "application/octet-stream" },
      body: blob,
    });
    renderClassification(await response.json());
  } catch (error) {
    $("#classify-status").textContent = "";
    showError(errorBox, error);
  }
}

function renderClassification(answer) {
  const result = answer.results[0];
  const top = result.top_k[0];
  $("#classify-status").textContent =
    `${answer.model} v${answer.version} says: ${top.label} (${(top.score * 100).toFixed(1)}%)`;
  $("#classify-results").replaceChildren(
    ...result.top_k.map((item) => {
      const row = element("li");
      const track = element("span", null, "track");
      const fill = element("span", null, "fill");
      fill.style.width = `${Math.max(0, Math.min(1, item.score)) * 100}%`;
      track.append(fill);
      track.setAttribute("aria-hidden", "true");
      row.append(element("span", item.label, "label"), track,
        element("span", `${(item.score * 100).toFixed(1)}%`, "score"));
      return row;
    }),
  );
  if (result.input_png_base64) {
    const seen = $("#classify-input");
    seen.onload = () => {
      $("#classify-seen-size").textContent = `${seen.naturalWidth}\u00d7${seen.naturalHeight}`;
    };
    seen.src = `data:image/png;base64,${result.input_png_base64}`;
    $("#classify-inverted").textContent = result.inverted ? "(colours inverted)" : "";
    $("#classify-seen").hidden = false;
  }
}

function pickFile(file) {
  if (!file) return;
  const preview = $("#upload-preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  classify(file);
}

function setUpUpload() {
  const input = $("#classify-file");
  const zone = $("#drop-zone");
  input.addEventListener("change", () => pickFile(input.files[0]));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    pickFile(event.dataTransfer.files[0]);
  });
}

export function setUpClassify() {
  $("#classify-form").addEventListener("submit", (event) => event.preventDefault());
  // Changing the model, top-k or polarity classifies the last image again.
  $("#classify-form").addEventListener("change", () => lastImage && classify(lastImage));
  setUpUpload();
}
