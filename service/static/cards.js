// Model cards: every version the service knows, its card, metrics and plots.
import { api } from "./api.js";
import { $, element } from "./dom.js";
import { listing } from "./models.js";

let plotUrls = [];

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

function definitionList(pairs, list = element("dl")) {
  for (const [term, value] of pairs) {
    if (value === undefined || value === null || value === "") continue;
    list.append(element("dt", term), element("dd", formatValue(value)));
  }
  return list;
}

function humanName(file) {
  return file.replace(/\.[a-z]+$/i, "").replace(/_/g, " ");
}

function percent(share) {
  return `${Number((100 * share).toFixed(1))}%`;
}

// What the model's versions.json says about this version: its labels, its share of
// the traffic, and, when it is the shadow, how often it agrees with the primary.
function rolloutFacts(entry) {
  const rollout = listing.rollouts[entry.name];
  if (!rollout) return [];
  const labels = Object.entries(rollout.version_labels || {})
    .filter(([, version]) => version === entry.version)
    .map(([label]) => ((rollout.pending || []).includes(label) ? `${label} (pending)` : label));
  const share = (rollout.split || {})[String(entry.version)];
  const shadow = rollout.shadow && rollout.shadow.version === entry.version ? rollout.shadow : null;
  const agreement = rollout.agreement === null || rollout.agreement === undefined
    ? "no rows compared yet" : `agreement ${percent(rollout.agreement)}`;
  return [
    ["Version labels", labels.length ? labels.join(", ") : null],
    ["Traffic", share === undefined ? null : `${share}% of requests naming no version`],
    ["Shadow", shadow && `${shadow.percent}% of requests copied here; ${agreement}`],
    ["versions.json", rollout.file === "refused" ? `refused: ${rollout.error}` : null],
  ];
}

// The rollout facts are a group of their own at the end of the card's list (a <div>
// in a <dl>, laid out as its rows), redrawn in place by refreshRollouts().
function rolloutGroup(entry) {
  const group = definitionList(rolloutFacts(entry), element("div", null, "rollout"));
  group.dataset.model = entry.name;
  group.dataset.version = String(entry.version);
  return group;
}

export function refreshRollouts() {
  for (const group of document.querySelectorAll("#model-cards div.rollout")) {
    const entry = { name: group.dataset.model, version: Number(group.dataset.version) };
    group.replaceWith(rolloutGroup(entry));
  }
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
  article.querySelector("dl").append(rolloutGroup(entry));
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
    plotUrls.push(url);
    image.src = url;
  }).catch((error) => {
    figure.append(element("p", `Could not load ${file}: ${error.message}`, "error"));
  });
  return figure;
}

export function renderCards() {
  plotUrls.forEach((url) => URL.revokeObjectURL(url));
  plotUrls = [];
  const cards = listing.models.map(renderCard);
  $("#model-cards").replaceChildren(...cards);
  $("#models-status").textContent = cards.length
    ? `${cards.length} model version${cards.length === 1 ? "" : "s"}.`
    : "No models.";
}
