// Reveals a kept medium when a reviewer selects it. The server is asked first: it checks the
// reviewer's role and the file's legal-viewing status, records the reveal in the audit log and
// counts it; only on its answer is the blur taken off. Without this script nothing is revealed.
(function () {
  "use strict";

  function say(figure, text) {
    var note = figure.querySelector(".reveal-error");
    if (!note) {
      note = document.createElement("p");
      note.className = "reveal-error";
      note.setAttribute("role", "alert");
      figure.appendChild(note);
    }
    note.textContent = text;
  }

  function reveal(button) {
    var figure = button.closest(".kept-media");
    if (!figure || figure.classList.contains("revealed") || button.disabled) {
      return;
    }
    var body = new FormData();
    body.append("referral", button.dataset.referral || "");
    body.append("file", button.dataset.file || "");
    body.append("csrf_token", button.dataset.csrf || "");
    button.disabled = true;
    fetch("/media/reveal", {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (answer) {
        if (!answer.ok) {
          throw new Error("status " + answer.status);
        }
        return answer.json();
      })
      .then(function (result) {
        figure.classList.add("revealed");
        var video = figure.querySelector("video");
        if (video) {
          video.muted = true;
          video.controls = true;
        }
        var image = figure.querySelector("img");
        if (image) {
          image.alt = image.alt.replace(/, greyscale and blurred.*$/, ", revealed");
        }
        if (button.classList.contains("frame")) {
          button.setAttribute("aria-pressed", "true");
        } else {
          button.hidden = true;
        }
        var caption = figure.querySelector("figcaption");
        if (caption) {
          caption.textContent = "Revealed. This reveal was recorded and counted.";
        }
        var count = document.getElementById("exposure-count");
        if (count && typeof result.exposures_today === "number") {
          count.textContent = String(result.exposures_today);
        }
      })
      .catch(function (error) {
        button.disabled = false;
        say(figure, "Not revealed (" + error.message + "). Reload the page and try again.");
      });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) {
      return;
    }
    var button = target.closest("button.media-reveal");
    if (button) {
      event.preventDefault();
      reveal(button);
    }
  });
})();
