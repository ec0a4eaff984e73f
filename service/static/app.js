// kerasserve playground: plain JavaScript over the public API, no dependencies.
// This module wires the page up; each panel has its own module:
//   api.js       every request, with the API key; problem details become errors
//   dom.js       small DOM helpers
//   models.js    the model list that feeds every section
//   classify.js  upload and classify; drawing.js the drawing canvas
//   generate.js  image grids; forecast.js and chart.js series and their chart
//   cards.js     the model cards; live.js keeps their rollout facts current
import { renderCards } from "./cards.js";
import { setUpClassify, showClassifyModels } from "./classify.js";
import { $, showError } from "./dom.js";
import { setUpCanvas } from "./drawing.js";
import { setUpForecast, showForecastModels } from "./forecast.js";
import { setUpGenerate, showGenerateModels } from "./generate.js";
import { followRollouts } from "./live.js";
import { fetchModels } from "./models.js";

const KEY_STORAGE = "kerasserve.apiKey";

async function loadModels() {
  const status = $("#models-status");
  status.textContent = "Loading models…";
  showError($("#global-error"), null);
  try {
    await fetchModels();
  } catch (error) {
    showError($("#global-error"), error);
  }
  showClassifyModels();
  showGenerateModels();
  showForecastModels();
  renderCards();
}

function start() {
  const keyInput = $("#api-key");
  keyInput.value = sessionStorage.getItem(KEY_STORAGE) || "";
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, keyInput.value.trim());
    loadModels();
  });
  document.querySelectorAll("[data-refresh]").forEach((button) => button.addEventListener("click", loadModels));
  setUpClassify();
  setUpCanvas();
  setUpGenerate();
  setUpForecast();
  loadModels();
  followRollouts();
}

start();
