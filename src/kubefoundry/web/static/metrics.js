// A deployment's live metrics and playground (the deployment page). Plain JavaScript, no
// library: the metrics come from GET .../metrics every 5 s (one refresh, and the readings the
// server keeps), drawn as small SVG lines; the playground posts to .../chat and reads the
// server-sent events as they stream. Every value is written with textContent.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const EVERY_MS = 5000;

  function text(id, value) {
    const el = document.getElementById(id);
    if (el) el.textContent = value === null || value === undefined ? "—" : String(value);
  }
  function num(v, digits) {
    return v === null || v === undefined ? null : Number(v).toLocaleString(undefined,
      { maximumFractionDigits: digits || 0, minimumFractionDigits: digits || 0 });
  }
  function ms(s) { return s === null || s === undefined ? null : num(s * 1000) + " ms"; }
  function usd(v) { return v === null || v === undefined ? null : "$" + Number(v).toFixed(2); }
  // A price per 1M tokens: cents, or three significant digits below a dime ($0.00412).
  function perMillion(v) {
    if (v === null || v === undefined) return null;
    return "$" + (Math.abs(v) >= 0.1 ? Number(v).toFixed(2) : Number(v).toPrecision(3));
  }

  function draw(id, series, plan) {
    // series: arrays of [t, value|null]; one polyline each, scaled to the same axes.
    const svg = document.getElementById(id);
    if (!svg) return;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const points = series.flat().filter((p) => p[1] !== null && p[1] !== undefined);
    if (!points.length) return;
    const t0 = Math.min(...points.map((p) => p[0]));
    const t1 = Math.max(...points.map((p) => p[0]));
    const highest = Math.max(...points.map((p) => p[1]));
    // The plan's line only where it shares a scale with what was measured (the caption
    // gives its figure either way): far above, it would flatten every measurement to 0.
    if (plan && plan > 4 * Math.max(highest, 1e-9)) plan = null;
    let top = Math.max(highest, plan || 0);
    if (top <= 0) top = 1;
    const x = (t) => (t1 > t0 ? ((t - t0) / (t1 - t0)) * 300 : 300);
    const y = (v) => 88 - (v / top) * 84;
    series.forEach((line, i) => {
      const kept = line.filter((p) => p[1] !== null && p[1] !== undefined);
      if (!kept.length) return;
      if (kept.length === 1) {  // one reading: a dot, since a line needs two
        const dot = document.createElementNS(SVG, "circle");
        dot.setAttribute("cx", x(kept[0][0]).toFixed(1));
        dot.setAttribute("cy", y(kept[0][1]).toFixed(1));
        dot.setAttribute("r", "3");
        if (i > 0) dot.setAttribute("class", "second");
        svg.appendChild(dot);
        return;
      }
      const poly = document.createElementNS(SVG, "polyline");
      poly.setAttribute("points", kept.map((p) => x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" "));
      if (i > 0) poly.setAttribute("class", "second");
      svg.appendChild(poly);
    });
    if (plan) {
      const line = document.createElementNS(SVG, "line");
      line.setAttribute("class", "plan");
      line.setAttribute("x1", "0"); line.setAttribute("x2", "300");
      line.setAttribute("y1", y(plan).toFixed(1)); line.setAttribute("y2", y(plan).toFixed(1));
      svg.appendChild(line);
    }
  }

  function show(body) {
    const now = body.now || {};
    const r = now.reading || {};
    text("m-running", num(r.running));
    text("m-waiting", num(r.waiting));
    text("m-output", num(r.output_tps, 1));
    text("m-ttft", r.ttft ? (ms(r.ttft.p50) || "—") + " / " + (ms(r.ttft.p99) || "—") : null);
    text("m-kv", r.kv_usage === null || r.kv_usage === undefined ? null : num(r.kv_usage * 100) + " %");
    text("m-pods", now.pods === undefined ? null : (now.scraped || 0) + " of " + now.pods);
    text("m-cost", now.usd_per_hour === null || now.usd_per_hour === undefined ? null : usd(now.usd_per_hour) + "/h");
    const beside = (measured, planned) =>
      (perMillion(measured) || "—") + (planned === null || planned === undefined
        ? "" : " (plan " + perMillion(planned) + ")");
    text("m-per-million-in", beside(now.usd_per_million_input_tokens,
      now.planned_usd_per_million_input_tokens));
    text("m-per-million", beside(now.usd_per_million_output_tokens,
      now.planned_usd_per_million_output_tokens));
    const since = body.since_start;  // from Prometheus, since the deployment was made
    text("m-spent", since && since.spent_usd !== null
      ? usd(since.spent_usd) + " · " + (usd(since.saved_usd) || "—") + " since start"
      : now.spent_usd === null || now.spent_usd === undefined ? null
        : usd(now.spent_usd) + " · " + (usd(now.saved_usd) || "—") + " while watched");
    const plan = now.planned_output_tokens_per_s;
    text("c-output-plan", plan ? "(the plan: " + num(plan, 1) + " at its peak)" : "");
    const h = body.history || [];
    draw("c-output", [h.map((p) => [p.at, p.output_tps])], plan);
    draw("c-ttft", [h.map((p) => [p.at, p.ttft && p.ttft.p50 !== null ? p.ttft.p50 * 1000 : null]),
      h.map((p) => [p.at, p.ttft && p.ttft.p99 !== null ? p.ttft.p99 * 1000 : null])]);
    draw("c-kv", [h.map((p) => [p.at, p.kv_usage === null ? null : p.kv_usage * 100])]);
    draw("c-pods", [h.map((p) => [p.at, p.pods])]);
    const problems = document.getElementById("metrics-problems");
    if (problems) {
      while (problems.firstChild) problems.removeChild(problems.firstChild);
      for (const [pod, why] of Object.entries(now.problems || {})) {
        const li = document.createElement("li");
        li.textContent = "Pod " + pod + ": " + why;
        problems.appendChild(li);
      }
    }
    const source = body.history_source || "kept";
    const where = source.startsWith("prometheus ")
      ? "history from Prometheus at " + source.slice("prometheus ".length)
      : h.length + " reading" + (h.length === 1 ? "" : "s") + " kept" +
        (body.history_problem
          ? " (Prometheus not used: " + body.history_problem.replace(/\.$/, "") + ")" : "");
    text("metrics-state", "Read " + new Date().toLocaleTimeString() +
      " through the API server; " + where + ".");
  }

  function poll(section) {
    fetch(section.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => r.ok ? r.json() : r.json().then((e) => { throw new Error(e.message || r.status); }))
      .then(show)
      .catch((e) => text("metrics-state", "Metrics not read: " + e.message))
      .finally(() => setTimeout(() => poll(section), EVERY_MS));
  }

  function csrf() {
    const meta = document.querySelector("meta[name=csrf-token]");
    return meta ? { "X-CSRF-Token": meta.content } : {};
  }

  function play(section) {
    const form = document.getElementById("play-form");
    const out = document.querySelector("#play-answer code");
    const send = document.getElementById("play-send");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      out.textContent = "";
      send.disabled = true;
      text("play-stats", "Asking…");
      const body = {
        messages: [{ role: "user", content: document.getElementById("play-prompt").value }],
        max_tokens: Number(document.getElementById("play-max").value) || 128,
      };
      try {
        const answer = await fetch(section.dataset.url, {
          method: "POST", credentials: "same-origin", body: JSON.stringify(body),
          headers: Object.assign({ "Content-Type": "application/json", Accept: "text/event-stream" }, csrf()),
        });
        if (!answer.ok) {
          const err = await answer.json().catch(() => ({}));
          throw new Error(err.message || ("HTTP " + answer.status));
        }
        const reader = answer.body.getReader();
        const decoder = new TextDecoder();
        let pending = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          pending += decoder.decode(value, { stream: true });
          const frames = pending.split("\n\n");
          pending = frames.pop();
          for (const frame of frames) handle(frame, out);
        }
      } catch (e) {
        text("play-stats", "Not answered: " + e.message);
      } finally {
        send.disabled = false;
      }
    });
  }

  function handle(frame, out) {
    let name = "", data = null;
    for (const line of frame.split("\n")) {
      if (line.startsWith("event: ")) name = line.slice(7);
      if (line.startsWith("data: ")) { try { data = JSON.parse(line.slice(6)); } catch (e) { data = null; } }
    }
    if (!data) return;
    if (name === "endpoint") text("play-stats", data.model + " on pod " + data.pod + "…");
    if (name === "delta") out.textContent += data.text;
    if (name === "error") text("play-stats", "The model server said: " + data.message);
    if (name === "stats") {
      const parts = [];
      if (data.ttft_s !== null) parts.push("TTFT " + ms(data.ttft_s));
      parts.push(data.output_tokens + " tokens in " + Number(data.duration_s).toFixed(2) + " s");
      if (data.decode_tokens_per_s) parts.push(num(data.decode_tokens_per_s, 1) + " tok/s after the first");
      text("play-stats", parts.join(" · "));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const metrics = document.getElementById("metrics");
    if (metrics && window.fetch) poll(metrics);
    const playground = document.getElementById("playground");
    if (playground && window.fetch && window.TextDecoder) play(playground);
  });
})();
