/* The cluster panel's buttons (templates/_connection.html): start or stop the local sandbox
   through the API, show its progress from the server-sent events as it comes (the latest line
   in a polite live region, every line in the list below it), then reload the page so it shows
   the cluster. Plain JavaScript, no library; unsafe requests carry the page's CSRF token. */
(function () {
  "use strict";
  var panel = document.querySelector("[data-kf-connection]");
  if (!panel) {
    return;
  }
  var API = "/api/v1/sandbox";
  var status = panel.querySelector("[data-kf-sandbox-status]");
  var log = panel.querySelector("[data-kf-sandbox-log]");

  function headers() {
    var found = { Accept: "application/json" };
    var meta = document.querySelector("meta[name=csrf-token]");
    if (meta && meta.content) {
      found["X-CSRF-Token"] = meta.content;
    }
    return found;
  }

  function say(text) {
    status.textContent = text;
  }

  function clock(seconds) {
    var whole = Math.floor(seconds || 0);
    var s = whole % 60;
    return Math.floor(whole / 60) + ":" + (s < 10 ? "0" : "") + s;
  }

  function busy(on) {
    panel.setAttribute("aria-busy", on ? "true" : "false");
    panel.querySelectorAll("[data-kf-sandbox]").forEach(function (button) {
      button.disabled = on;
    });
  }

  function fail(problem) {
    busy(false);
    var body = problem || {};
    var text = body.message || "The request failed.";
    if (body.hint) {
      text += " " + body.hint;
    }
    say(text);
    status.classList.add("error");
  }

  function reload(text) {
    say(text);
    window.location.reload();
  }

  function line(progress) {
    var item = document.createElement("li");
    item.textContent = clock(progress.elapsed_s) + "  " + progress.line;
    log.appendChild(item);
    log.hidden = false;
    log.scrollTop = log.scrollHeight;
  }

  function follow() {
    busy(true);
    status.classList.remove("error");
    var events = new EventSource(API + "/stream");
    events.addEventListener("progress", function (event) {
      var progress = JSON.parse(event.data);
      line(progress);
      say(progress.line + " (" + clock(progress.elapsed_s) + ")");
    });
    events.addEventListener("done", function (event) {
      events.close();
      var state = JSON.parse(event.data);
      if (state.state === "running") {
        reload("The sandbox is up after " + clock(state.elapsed_s) + "; reloading the page.");
      } else if (state.state === "failed") {
        fail(state.error);
      } else {
        busy(false);
        say("");
      }
    });
    events.onerror = function () {
      if (events.readyState === EventSource.CLOSED) {
        fail({ message: "The progress stream closed.", hint: "Reload the page to see where the sandbox is." });
      } else {
        say("Reconnecting to the progress stream…"); // the browser retries by itself
      }
    };
  }

  function send(method) {
    busy(true);
    status.classList.remove("error");
    return fetch(API, { method: method, headers: headers(), credentials: "same-origin" }).then(
      function (response) {
        return response.json().then(
          function (body) {
            return { status: response.status, body: body };
          },
          function () {
            return { status: response.status, body: {} };
          }
        );
      }
    );
  }

  function unreachable() {
    fail({ message: "The server did not answer.", hint: "Is `kubefoundry serve` still running?" });
  }

  function start() {
    say("Starting the sandbox…");
    send("POST").then(function (answer) {
      if (answer.status === 202) {
        follow();
      } else if (answer.status === 200) {
        reload("The sandbox is up; reloading the page.");
      } else {
        fail(answer.body);
      }
    }, unreachable);
  }

  function stop() {
    say("Stopping the sandbox…");
    send("DELETE").then(function (answer) {
      if (answer.status === 200) {
        reload("The sandbox is stopped; reloading the page.");
      } else {
        fail(answer.body);
      }
    }, unreachable);
  }

  panel.addEventListener("click", function (event) {
    var button = event.target.closest("[data-kf-sandbox]");
    if (!button || button.disabled) {
      return;
    }
    if (button.getAttribute("data-kf-sandbox") === "start") {
      start();
    } else {
      stop();
    }
  });

  var state = panel.getAttribute("data-sandbox-state");
  if (state === "building" || state === "starting") {
    follow(); // a start under way when the page loaded (another tab, a reload)
  }
})();
