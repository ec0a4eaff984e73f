// kerasserve playground: plain JavaScript over the public API, no dependencies.
// Every request goes through api(), which adds the API key and turns RFC 9457
// problem details into errors whose message is the service's own `detail`.
"use strict";

const $ = (selector) => document.querySelector(selector);
const KEY_STORAGE = "kerasserve.apiKey";
const SVG_NS = "http://www.w3.org/2000/svg";
const state = { models: [], defaults: {}, plotUrls: [], gridUrl: null, lastImage: null };

class ProblemError extends Error {
  constructor(problem, status) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || "";
  }
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = $("#api-key").value.trim();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (error) {
    throw new ProblemError({ detail: `The service could not be reached (${error.message}).` }, 0);
  }
  if (!response.ok) {
    let problem = {};
    try {
      problem = await response.json();
    } catch {
      problem = { detail: `${response.status} ${response.statusText}` };
    }
    throw new ProblemError(problem, response.status);
  }
  return response;
}

function showError(element, error) {
  if (!error) {
    element.hidden = true;
    element.textContent = "";
    return;
  }
  element.textContent = error.message;
  if (error.code) {
    const code = document.createElement("code");
    code.textContent = ` (${error.status} ${error.code})`;
    element.append(code);
  }
  element.hidden = false;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function fillSelect(select, options, keep = true) {
  const previous = select.value;
  select.replaceChildren(
    ...options.map(([value, label]) => {
      const option = element("option", label);
      option.value = value;
      return option;
    }),
  );
  if (keep && options.some(([value]) => value === previous)) select.value = previous;
}

// ---- Models: one list feeds every section -------------------------------------------

function available(task) {
  const latest = new Map();
  for (const entry of state.models) {
    if (entry.state !== "AVAILABLE" || !entry.card || entry.card.task !== task) continue;
    const seen = latest.get(entry.name);
    if (!seen || seen.version < entry.version) latest.set(entry.name, entry);
  }
  return [...latest.values()];
}

function modelEntry(select) {
  return state.models.find(
    (entry) => entry.name === select.value && entry.state === "AVAILABLE" && entry.card,
  );
}

async function loadModels() {
  const status = $("#models-status");
  status.textContent = "Loading models…";
  showError($("#global-error"), null);
  try {
    const response = await api("/v1/models");
    const listing = await response.json();
    state.models = listing.models;
    state.defaults = listing.defaults || {};
  } catch (error) {
    state.models = [];
    state.defaults = {};
    showError($("#global-error"), error);
  }
  fillModelSelects();
  renderCards();
}

function fillModelSelects() {
  const label = (entry) => `${entry.name} (v${entry.version})`;
  for (const [task, id] of [["classify", "#classify-model"], ["generate", "#generate-model"],
    ["forecast", "#forecast-model"]]) {
    const select = $(id);
    const first = select.options.length === 0;
    fillSelect(select, available(task).map((entry) => [entry.name, label(entry)]));
    // The service's default for the task is preselected, as a request naming no model gets it.
    const preferred = state.defaults[task];
    if (first && [...select.options].some((option) => option.value === preferred)) {
      select.value = preferred;
    }
  }
  const generators = available("generate").length > 0;
  $("#generate-none").hidden = generators;
  for (const control of $("#generate-form").elements) control.disabled = !generators;
  onGenerateModel();
  onForecastModel();
}

// ---- Classify ------------------------------------------------------------------------

async function classify(blob) {
  state.lastImage = blob;
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

// Drawing: white strokes on black, like MNIST. Before upload the strokes are cropped
// to their bounding box and centred in a square with a 20% margin, as MNIST digits are.
const drawing = { active: false, dirty: false, box: null };

function setUpCanvas() {
  const canvas = $("#draw-canvas");
  const context = canvas.getContext("2d");
  const clear = () => {
    context.fillStyle = "#000";
    context.fillRect(0, 0, canvas.width, canvas.height);
    drawing.dirty = false;
    drawing.box = null;
  };
  const point = (event) => {
    const rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) * (canvas.width / rect.width),
      (event.clientY - rect.top) * (canvas.height / rect.height)];
  };
  const extend = ([x, y]) => {
    const b = drawing.box || { left: x, top: y, right: x, bottom: y };
    drawing.box = { left: Math.min(b.left, x), top: Math.min(b.top, y),
      right: Math.max(b.right, x), bottom: Math.max(b.bottom, y) };
  };
  context.lineCap = "round";
  context.lineJoin = "round";
  clear();
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    drawing.active = true;
    const [x, y] = point(event);
    context.strokeStyle = "#fff";
    context.lineWidth = 18;
    context.beginPath();
    context.moveTo(x, y);
    context.lineTo(x, y);
    context.stroke();
    extend([x, y]);
    drawing.dirty = true;
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing.active) return;
    const [x, y] = point(event);
    context.lineTo(x, y);
    context.stroke();
    extend([x, y]);
  });
  const finish = () => {
    if (!drawing.active) return;
    drawing.active = false;
    classifyDrawing();
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  $("#draw-clear").addEventListener("click", clear);
  $("#draw-classify").addEventListener("click", classifyDrawing);
}

function croppedDrawing() {
  const canvas = $("#draw-canvas");
  const pad = 9; // half the line width, so the crop keeps whole strokes
  const b = drawing.box;
  const left = Math.max(0, b.left - pad);
  const top = Math.max(0, b.top - pad);
  const width = Math.min(canvas.width, b.right + pad) - left;
  const height = Math.min(canvas.height, b.bottom + pad) - top;
  const side = Math.ceil(Math.max(width, height) / 0.6); // the strokes fill 60%, like MNIST
  const square = document.createElement("canvas");
  square.width = side;
  square.height = side;
  const context = square.getContext("2d");
  context.fillStyle = "#000";
  context.fillRect(0, 0, side, side);
  context.drawImage(canvas, left, top, width, height,
    (side - width) / 2, (side - height) / 2, width, height);
  return square;
}

function classifyDrawing() {
  if (!drawing.dirty) {
    showError($("#classify-error"), new Error("Draw a digit first."));
    return;
  }
  croppedDrawing().toBlob((blob) => classify(blob), "image/png");
}

// ---- Generate ------------------------------------------------------------------------

function onGenerateModel() {
  const entry = modelEntry($("#generate-model"));
  const labels = entry ? entry.card.labels || [] : [];
  fillSelect($("#generate-label"),
    [["", "any (random)"], ...labels.map((label, index) => [String(index), String(label)])]);
}

async function generate() {
  const errorBox = $("#generate-error");
  const seed = $("#generate-seed").value;
  const params = new URLSearchParams({
    model: $("#generate-model").value, n: $("#generate-count").value, seed, format: "png",
  });
  const label = $("#generate-label").value;
  if (label !== "") params.set("label", label);
  showError(errorBox, null);
  try {
    const response = await api(`/v1/generate?${params}`);
    const blob = await response.blob();
    if (state.gridUrl) URL.revokeObjectURL(state.gridUrl);
    state.gridUrl = URL.createObjectURL(blob);
    const model = params.get("model");
    const shown = label === "" ? "random classes" : `class ${$("#generate-label").selectedOptions[0].text}`;
    const image = $("#generate-image");
    image.src = state.gridUrl;
    image.alt = `${params.get("n")} images generated by ${model}, ${shown}, seed ${seed}`;
    $("#generate-caption").textContent =
      `${model} v${response.headers.get("X-Model-Version")}, ${shown}, seed ${response.headers.get("X-Seed")}`;
    const download = $("#generate-download");
    download.href = state.gridUrl;
    download.download = `${model}-seed${seed}.png`;
    download.hidden = false;
    $("#generate-figure").hidden = false;
  } catch (error) {
    showError(errorBox, error);
  }
}

// ---- Forecast ------------------------------------------------------------------------

function onForecastModel() {
  const entry = modelEntry($("#forecast-model"));
  const params = (entry && entry.card.task_params) || {};
  if (params.horizon) $("#forecast-horizon").value = params.horizon;
}

function parseSeries(text) {
  const parts = text.split(/[\s,;]+/).filter((part) => part !== "");
  const values = parts.map(Number);
  const bad = parts.find((part, index) => !Number.isFinite(values[index]));
  if (bad !== undefined) throw new Error(`"${bad}" is not a number.`);
  if (values.length === 0) throw new Error("Paste a series or load the CO2 sample first.");
  return values;
}

async function loadSample() {
  try {
    const sample = await (await api("/playground/co2.json")).json();
    $("#forecast-series").value = sample.values.join(", ");
    $("#forecast-status").textContent =
      `Loaded ${sample.values.length} monthly values (${sample.unit}) from ${sample.start}, ${sample.source}.`;
  } catch (error) {
    showError($("#forecast-error"), error);
  }
}

async function forecast() {
  const errorBox = $("#forecast-error");
  showError(errorBox, null);
  try {
    const series = parseSeries($("#forecast-series").value);
    const body = {
      model: $("#forecast-model").value, series, horizon: Number($("#forecast-horizon").value),
    };
    const response = await api("/v1/sequence/predict", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const answer = await response.json();
    drawChart(series, answer.forecast);
    $("#forecast-values").replaceChildren(...answer.forecast.map((v) => element("li", v.toFixed(3))));
    $("#forecast-status").textContent = `${answer.model} v${answer.version} read the last ` +
      `${answer.window} values and forecast ${answer.horizon} steps` +
      (answer.recursive ? ` (recursively, ${answer.model_horizon} at a time).` : ".");
    $("#forecast-figure").hidden = false;
  } catch (error) {
    showError(errorBox, error);
  }
}

function svg(tag, attributes) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function drawChart(series, predicted) {
  const history = series.slice(-Math.max(120, 3 * predicted.length));
  const offset = series.length - history.length;
  const all = history.concat(predicted);
  const [width, height, margin] = [720, 300, { left: 56, right: 12, top: 12, bottom: 28 }];
  const low = Math.min(...all);
  const high = Math.max(...all);
  const span = high - low || 1;
  const x = (i) => margin.left + (i / Math.max(1, all.length - 1)) * (width - margin.left - margin.right);
  const y = (v) => margin.top + (1 - (v - low) / span) * (height - margin.top - margin.bottom);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `Line chart: the last ${history.length} values of the series and ${predicted.length} forecast values`,
  });
  const bottom = height - margin.bottom;
  chart.append(svg("line", { class: "axis", x1: margin.left, y1: bottom, x2: width - margin.right, y2: bottom }));
  chart.append(svg("line", { class: "axis", x1: margin.left, y1: margin.top, x2: margin.left, y2: bottom }));
  for (const value of [low, (low + high) / 2, high]) {
    const tick = svg("text", { class: "tick", x: margin.left - 6, y: y(value) + 4, "text-anchor": "end" });
    tick.textContent = value.toFixed(1);
    chart.append(tick);
  }
  for (const [index, anchor] of [[0, "start"], [all.length - 1, "end"]]) {
    const tick = svg("text", { class: "tick", x: x(index), y: height - 8, "text-anchor": anchor });
    tick.textContent = `t = ${offset + index}`;
    chart.append(tick);
  }
  const points = (values, start) => values.map((v, i) => `${x(start + i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  chart.append(svg("polyline", { class: "history", points: points(history, 0), "data-points": history.length }));
  const joined = [history[history.length - 1], ...predicted];
  chart.append(svg("polyline", { class: "forecast-line", points: points(joined, history.length - 1) }));
  predicted.forEach((value, i) => {
    const dot = svg("circle", { class: "forecast-point", cx: x(history.length + i), cy: y(value), r: 3 });
    const title = svg("title", {});
    title.textContent = `step ${i + 1}: ${value.toFixed(3)}`;
    dot.append(title);
    chart.append(dot);
  });
  $("#forecast-chart").replaceChildren(chart);
}

// ---- Model cards ---------------------------------------------------------------------

function formatValue(value) {
  if (typeof value === "number") {
    return Number.isInteger(value) ? String(value) : String(Number(value.toFixed(4)));
  }
  if (Array.isArray(value)) return value.map(formatValue).join(", ");
  if (value && typeof value === "object") {
    return Object.entries(value).map(([k, v]) => `${k}: ${formatValue(v)}`).join("; ");
  }
  return String(value);
}

function definitionList(pairs) {
  const list = element("dl");
  for (const [term, value] of pairs) {
    if (value === undefined || value === null || value === "") continue;
    list.append(element("dt", term), element("dd", formatValue(value)));
  }
  return list;
}

function humanName(file) {
  return file.replace(/\.[a-z]+$/i, "").replace(/_/g, " ");
}

function renderCard(entry) {
  const card = entry.card || {};
  const article = element("article", null, "card");
  article.setAttribute("aria-labelledby", `card-${entry.name}-${entry.version}`);
  const title = element("h3");
  title.id = `card-${entry.name}-${entry.version}`;
  title.append(element("span", `${entry.name} v${entry.version}`),
    element("span", entry.state, entry.state === "AVAILABLE" ? "badge" : "badge other"));
  article.append(title);
  const data = card.data || {};
  article.append(definitionList([
    ["Task", card.task], ["Architecture", card.architecture], ["Parameters", card.parameters && card.parameters.toLocaleString("en")],
    ["Labels", card.labels && card.labels.length ? card.labels : null],
    ["Task settings", card.task_params], ["Device", entry.device],
    ["Dataset", data.dataset], ["Data source", data.source], ["Split", data.split],
    ["Created", card.created_at], ["Error", entry.error],
  ]));
  const metrics = Object.entries(card.metrics || {}).filter(([, v]) => !Array.isArray(v));
  if (metrics.length) {
    article.append(element("h4", "Metrics"), definitionList(metrics));
  }
  const plots = card.plots || [];
  if (plots.length) {
    article.append(element("h4", "Plots"));
    const holder = element("div", null, "plots");
    for (const file of plots) holder.append(plotFigure(entry, file));
    article.append(holder);
  }
  return article;
}

function plotFigure(entry, file) {
  const figure = element("figure");
  const image = element("img");
  image.alt = `${humanName(file)} of ${entry.name} v${entry.version}`;
  image.width = 640;
  image.height = 480;
  figure.append(image, element("figcaption", humanName(file)));
  const path = `/v1/models/${encodeURIComponent(entry.name)}/versions/${entry.version}` +
    `/files/${encodeURIComponent(file)}`;
  // Fetched, not linked, so the API key goes along when one is set.
  api(path).then((response) => response.blob()).then((blob) => {
    const url = URL.createObjectURL(blob);
    state.plotUrls.push(url);
    image.src = url;
  }).catch((error) => {
    figure.append(element("p", `Could not load ${file}: ${error.message}`, "error"));
  });
  return figure;
}

function renderCards() {
  state.plotUrls.forEach((url) => URL.revokeObjectURL(url));
  state.plotUrls = [];
  const cards = state.models.map(renderCard);
  $("#model-cards").replaceChildren(...cards);
  $("#models-status").textContent = cards.length
    ? `${cards.length} model version${cards.length === 1 ? "" : "s"}.`
    : "No models.";
}

// ---- Wiring --------------------------------------------------------------------------

function start() {
  const keyInput = $("#api-key");
  keyInput.value = sessionStorage.getItem(KEY_STORAGE) || "";
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, keyInput.value.trim());
    loadModels();
  });
  document.querySelectorAll("[data-refresh]").forEach((button) => button.addEventListener("click", loadModels));
  $("#classify-form").addEventListener("submit", (event) => event.preventDefault());
  // Changing the model, top-k or polarity classifies the last image again.
  $("#classify-form").addEventListener("change", () => state.lastImage && classify(state.lastImage));
  setUpUpload();
  setUpCanvas();
  $("#generate-model").addEventListener("change", onGenerateModel);
  $("#generate-form").addEventListener("submit", (event) => {
    event.preventDefault();
    generate();
  });
  $("#generate-another").addEventListener("click", () => {
    $("#generate-seed").value = Math.floor(Math.random() * 2 ** 31);
    generate();
  });
  $("#forecast-model").addEventListener("change", onForecastModel);
  $("#forecast-sample").addEventListener("click", loadSample);
  $("#forecast-form").addEventListener("submit", (event) => {
    event.preventDefault();
    forecast();
  });
  loadModels();
}

start();
