// Live rollout facts: while the page is visible, GET /v1/models every few seconds and
// redraw each card's version labels, traffic shares and shadow agreement in place.
// A hidden page asks nothing; it catches up as soon as it is shown again.
import { refreshRollouts } from "./cards.js";
import { fetchRollouts } from "./models.js";

const EVERY_MS = 3000;
let timer = null;

async function update() {
  try {
    await fetchRollouts();
    refreshRollouts();
  } catch {
    // The service is away or refused: the cards keep what they last showed.
  }
}

function schedule() {
  clearInterval(timer);
  timer = null;
  if (document.visibilityState === "hidden") return;
  timer = setInterval(update, EVERY_MS);
}

export function followRollouts() {
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "hidden") update();
    schedule();
  });
  schedule();
}
