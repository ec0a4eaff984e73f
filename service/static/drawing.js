// Drawing: white strokes on black, like MNIST. Before upload the strokes are cropped
// to their bounding box and centred in a square with a 20% margin, as MNIST digits are.
import { classify } from "./classify.js";
import { $, showError } from "./dom.js";

const drawing = { active: false, dirty: false, box: null };

export function setUpCanvas() {
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
