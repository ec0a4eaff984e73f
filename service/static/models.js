// Models: one list, read from GET /v1/models, feeds every section.
import { api } from "./api.js";
import { fillSelect } from "./dom.js";

export const listing = { models: [], defaults: {}, rollouts: {} };

export async function fetchModels() {
  try {
    const response = await api("/v1/models");
    const answer = await response.json();
    listing.models = answer.models;
    listing.defaults = answer.defaults || {};
    listing.rollouts = answer.rollouts || {};
  } catch (error) {
    listing.models = [];
    listing.defaults = {};
    listing.rollouts = {};
    throw error;
  }
}

// Only the versions.json states, for the live cards; the model list stays as loaded.
export async function fetchRollouts() {
  const answer = await (await api("/v1/models")).json();
  listing.rollouts = answer.rollouts || {};
}

export function available(task) {
  const latest = new Map();
  for (const entry of listing.models) {
    if (entry.state !== "AVAILABLE" || !entry.card || entry.card.task !== task) continue;
    const seen = latest.get(entry.name);
    if (!seen || seen.version < entry.version) latest.set(entry.name, entry);
  }
  return [...latest.values()];
}

export function modelEntry(select) {
  return listing.models.find(
    (entry) => entry.name === select.value && entry.state === "AVAILABLE" && entry.card,
  );
}

export function fillModelSelect(select, task) {
  const label = (entry) => `${entry.name} (v${entry.version})`;
  const first = select.options.length === 0;
  fillSelect(select, available(task).map((entry) => [entry.name, label(entry)]));
  // The service's default for the task is preselected, as a request naming no model gets it.
  const preferred = listing.defaults[task];
  if (first && [...select.options].some((option) => option.value === preferred)) {
    select.value = preferred;
  }
}
