// The forecast chart: the end of the series and the forecast, as an inline SVG.
import { $ } from "./dom.js";

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attributes) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

export function drawChart(series, predicted) {
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
