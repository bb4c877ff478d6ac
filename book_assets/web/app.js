// Book cover search page. Everything that comes from the data is put into the DOM with
// textContent or as validated attribute values, never as HTML.
"use strict";

(function () {
  const EDITION_KEY = /^\/books\/OL\d+M$/;
  const $ = (id) => document.getElementById(id);
  const form = $("search-form");
  const statusEl = $("status");
  const grid = $("results");
  const template = $("card-template");

  function safeImageUrl(url) {
    try {
      const parsed = new URL(String(url), window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : "";
    } catch (e) {
      return "";
    }
  }

  function yearsParam() {
    let from = $("year-from").value.trim();
    let to = $("year-to").value.trim();
    if (!from && !to) return "";
    if (!from) from = to;
    if (!to) to = from;
    return from + "-" + to;
  }

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", Boolean(isError));
  }

  function card(result) {
    const node = template.content.firstElementChild.cloneNode(true);
    const img = node.querySelector(".cover");
    const src = safeImageUrl(result.cover_url);
    if (src) img.src = src;
    img.alt = "Cover of " + String(result.title || "");
    node.querySelector(".title").textContent = String(result.title || "");
    node.querySelector(".authors").textContent = (result.authors || []).join(", ");
    node.querySelector(".year").textContent = String(result.year || "");
    node.querySelector(".score").textContent = "score " + Number(result.score).toFixed(3);
    const like = node.querySelector(".like");
    if (EDITION_KEY.test(String(result.edition_key))) {
      like.dataset.editionKey = result.edition_key;
      like.href = "?like=" + encodeURIComponent(result.edition_key);
      like.addEventListener("click", (event) => {
        event.preventDefault();
        run({ like: result.edition_key }, true);
      });
    } else {
      like.remove();
    }
    node.dataset.editionKey = String(result.edition_key || "");
    return node;
  }

  async function run(state, push) {
    const params = new URLSearchParams();
    let endpoint;
    if (state.like) {
      endpoint = "/api/like";
      params.set("edition_key", state.like);
    } else {
      endpoint = "/api/search";
      params.set("q", state.q || "");
    }
    const years = yearsParam();
    if (years) params.set("years", years);
    params.set("top_k", $("top-k").value);
    if (push) {
      const page = new URLSearchParams(params);
      page.delete("edition_key");
      if (state.like) page.set("like", state.like);
      history.pushState(state, "", "?" + page.toString());
    }
    setStatus("Searching…");
    let body;
    try {
      const response = await fetch(endpoint + "?" + params.toString(), { headers: { Accept: "application/json" } });
      body = await response.json();
      if (!response.ok) {
        grid.replaceChildren();
        setStatus(body.error || "Search failed (" + response.status + ")", true);
        return;
      }
    } catch (err) {
      setStatus("Search failed: " + err, true);
      return;
    }
    grid.replaceChildren(...body.results.map(card));
    const what = state.like ? "covers like " + state.like : "results";
    setStatus(body.results.length ? body.results.length + " " + what : "No " + what);
  }

  function fromLocation() {
    const params = new URLSearchParams(window.location.search);
    const years = (params.get("years") || "").split("-");
    if (years[0]) $("year-from").value = years[0];
    if (years[1] || years[0]) $("year-to").value = years[1] || years[0];
    if (params.get("top_k")) $("top-k").value = params.get("top_k");
    if (params.get("like")) {
      run({ like: params.get("like") }, false);
    } else if (params.get("q")) {
      $("q").value = params.get("q");
      run({ q: params.get("q") }, false);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run({ q: $("q").value }, true);
  });
  window.addEventListener("popstate", fromLocation);
  fromLocation();
})();
