// KubeFoundry's live pages: follow the API's event streams (server-sent events) and update
// what the server rendered first. Plain JavaScript, no library; every value from the cluster
// is written with textContent, never as HTML. Without JavaScript the pages still work: they
// show the state of the moment and a Refresh link.
"use strict";

(function () {
  const PHASES = ["waiting_for_operator", "scheduling", "pulling_image", "downloading_model",
    "loading_model", "ready"];

  function follow(url, handlers) {
    if (!window.EventSource) return null;
    const source = new EventSource(url, { withCredentials: true });
    for (const [name, handle] of Object.entries(handlers)) {
      source.addEventListener(name, (message) => {
        let data;
        try { data = JSON.parse(message.data); } catch (e) { return; }
        handle(data);
      });
    }
    // A refused connection (a deployment the server's watch cache has not seen yet, right
    // after the deploy; a server restarting) is not retried by the browser: try again.
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(() => follow(url, handlers), 2000);
      }
    });
    return source;
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text === null || text === undefined || text === "" ? "—" : String(text);
    row.appendChild(td);
    return td;
  }

  function money(value) {
    return value === null || value === undefined ? "—" : "$" + Number(value).toFixed(2);
  }

  // The deployments list: the whole table again on every change (the server coalesces them).
  function deploymentsTable(table) {
    const body = table.querySelector("tbody");
    const state = document.getElementById("live-state");
    follow(table.dataset.stream, {
      deployments: (data) => {
        const rows = data.deployments || [];
        body.replaceChildren();
        for (const d of rows) {
          const tr = document.createElement("tr");
          const name = cell(tr, "");
          const link = document.createElement("a");
          link.href = "/deployments/" + encodeURIComponent(d.namespace) + "/" + encodeURIComponent(d.name);
          link.textContent = d.name;
          name.replaceChildren(link);
          cell(tr, d.namespace);
          cell(tr, d.model);
          cell(tr, d.runtime);
          cell(tr, d.gpu);
          cell(tr, d.phase ? d.phase.replace(/_/g, " ") : null, "phase-" + (d.phase || "unknown"));
          cell(tr, d.wanted !== null && d.wanted !== undefined ? d.ready + "/" + d.wanted : d.replicas, "num");
          cell(tr, money(d.usd_per_hour), "num");
          body.appendChild(tr);
        }
        if (!rows.length) {
          const tr = document.createElement("tr");
          const td = cell(tr, "None yet. Pick a model in the catalog and deploy it.");
          td.colSpan = 8;
          body.appendChild(tr);
        }
        if (state) state.textContent = rows.length + " deployment" + (rows.length === 1 ? "" : "s") + " (live).";
      },
    });
  }

  // One deployment: its phase, the stepper, its events.
  function deploymentStatus(section) {
    const label = document.getElementById("phase-label");
    const message = document.getElementById("phase-message");
    const ready = document.getElementById("phase-ready");
    const wanted = document.getElementById("phase-wanted");
    const phase = document.getElementById("phase");
    const events = document.querySelector("#events tbody");
    follow(section.dataset.stream, {
      status: (s) => {
        label.textContent = s.phase.replace(/_/g, " ");
        message.textContent = s.message;
        ready.textContent = s.ready;
        wanted.textContent = s.wanted;
        phase.className = "phase phase-" + s.phase;
        const at = PHASES.indexOf(s.phase);
        section.querySelectorAll(".phases li").forEach((li, i) => {
          li.classList.toggle("current", li.dataset.phase === s.phase);
          li.classList.toggle("done", s.phase !== "failed" && at >= 0 && i < at);
          if (li.dataset.phase === s.phase) li.setAttribute("aria-current", "step");
          else li.removeAttribute("aria-current");
        });
        if (s.phase === "loading_model" || s.phase === "ready") logs();
      },
      "k8s-event": (e) => {
        if (!events) return;
        const empty = events.querySelector("tr.empty");
        if (empty) empty.remove();
        const tr = document.createElement("tr");
        tr.className = "ev-" + String(e.type || "normal").toLowerCase();
        cell(tr, e.time);
        cell(tr, e.type);
        cell(tr, e.reason);
        cell(tr, e.object);
        cell(tr, e.message + (e.count > 1 ? " (×" + e.count + ")" : ""));
        events.appendChild(tr);
      },
    });
  }

  // The engine's log lines, followed once a pod runs; the last 1,000 kept.
  let following = null;
  function logs() {
    const pre = document.getElementById("logs");
    if (!pre || following) return;
    const code = pre.querySelector("code");
    const state = document.getElementById("logs-state");
    following = follow(pre.dataset.stream, {
      log: (l) => {
        code.append((l.pod ? "[" + l.pod + "] " : "") + l.line + "\n");
        while (code.childNodes.length > 1000) code.removeChild(code.firstChild);
        if (state) state.textContent = "Following the engine's log lines.";
        pre.scrollTop = pre.scrollHeight;
      },
      problem: (p) => { if (state) state.textContent = p.message; },
    });
  }

  // The deploy and edit forms: the preview (plan, checks, YAML, the difference) follows the
  // fields as they change, without leaving the form, so focus stays where it is. The page
  // the form would load is fetched and only its preview is taken; the address follows, so
  // a reload or a shared link shows the same thing. Without JavaScript the button does it.
  function livePreview(form) {
    const preview = document.getElementById("preview");
    if (!preview || !window.fetch || !window.DOMParser) return;
    let timer = null;
    let latest = 0;
    const refresh = async () => {
      const query = new URLSearchParams(new FormData(form));
      for (const [k, v] of [...query.entries()]) if (!v) query.delete(k);
      const url = form.action + "?" + query.toString();
      const mine = ++latest;
      preview.setAttribute("aria-busy", "true");
      try {
        const answer = await fetch(url, { credentials: "same-origin" });
        const page = new DOMParser().parseFromString(await answer.text(), "text/html");
        const fresh = page.getElementById("preview");
        if (mine !== latest || !fresh) return;  // a newer change is on its way
        preview.replaceChildren(...fresh.childNodes);
        history.replaceState(null, "", url);
        const said = document.getElementById("preview-status");
        const error = preview.querySelector(".error, .misfit");
        if (said) said.textContent = error ? "Preview: " + error.textContent : "Preview updated.";
      } catch (e) {
        // offline or the server went away: the button still works
      } finally {
        if (mine === latest) preview.setAttribute("aria-busy", "false");
      }
    };
    const later = () => { clearTimeout(timer); timer = setTimeout(refresh, 400); };
    form.addEventListener("change", later);
    form.addEventListener("input", (e) => { if (e.target.type === "number" || e.target.type === "text") later(); });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form.decisions").forEach(livePreview);
    const table = document.querySelector("table#deployments[data-stream]");
    if (table) deploymentsTable(table);
    const status = document.querySelector("section#status[data-stream]");
    if (status) {
      deploymentStatus(status);
      const now = document.getElementById("phase");
      if (now && (now.classList.contains("phase-ready") || now.classList.contains("phase-loading_model"))) logs();
    }
  });
})();
