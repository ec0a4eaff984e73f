// Every request goes through api(), which adds the API key and turns RFC 9457
// problem details into errors whose message is the service's own `detail`.
import { $ } from "./dom.js";

export class ProblemError extends Error {
  constructor(problem, status) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || "";
  }
}

export async function api(path, options = {}) {
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
