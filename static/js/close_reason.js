// "Close incident" asks why (Incident.CloseReason, listed by the server in the page's
// <dialog id="close-dialog">): a number key or the arrows and Enter choose, Esc thinks better of
// it. Keys pressed in the dialog stay there: the console's shortcuts must not fire behind it.

import { byId } from "./ui.js";

// The chosen reason's value, or null when the dialog is dismissed.
export function askCloseReason() {
  const dialog = byId("close-dialog");
  const form = dialog.querySelector("form");
  form.reset();
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => resolve(dialog.returnValue === "close" ? new FormData(form).get("close_reason") : null),
      { once: true },
    );
    dialog.showModal();
  });
}

function chooseByNumber(event) {
  event.stopPropagation();
  const radio = byId("close-dialog").querySelectorAll("input[name=close_reason]")[Number(event.key) - 1];
  if (!radio || event.ctrlKey || event.altKey || event.metaKey) return;
  event.preventDefault();
  radio.checked = true;
  radio.form.requestSubmit(radio.form.querySelector("button[value=close]"));
}

byId("close-dialog").addEventListener("keydown", chooseByNumber);
