// Forecast: a pasted series (or the bundled CO2 sample), forecast and charted.
import { api } from "./api.js";
import { drawChart } from "./chart.js";
import { $, element, showError } from "./dom.js";
import { fillModelSelect, modelEntry } from "./models.js";

export function showForecastModels() {
  fillModelSelect($("#forecast-model"), "forecast");
  onForecastModel();
}

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

export function setUpForecast() {
  $("#forecast-model").addEventListener("change", onForecastModel);
  $("#forecast-sample").addEventListener("click", loadSample);
  $("#forecast-form").addEventListener("submit", (event) => {
    event.preventDefault();
    forecast();
  });
}
