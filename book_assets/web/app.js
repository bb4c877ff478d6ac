// Book cover search page. Everything that comes from the data is put into the DOM with
// textContent or as validated attribute values, never as HTML.
"use strict";

(function () {
  const EDITION_KEY = /^\/books\/OL\d+M$/;
  const MAX_TOP_K = 100; // the API accepts top_k 1-100 (book_assets/search/validation.py)
  const $ = (id) => document.getElementById(id);
  const form = $("search-form");
  const statusEl = $("status");
  const grid = $("results");
  const template = $("card-template");
  const topK = $("top-k");
  let latestRun = 0; // responses of superseded runs (e.g. after Back) are dropped

  // An absolute http(s) URL, or "" (no image). No base URL on purpose: a blank or relative
  // cover_url would otherwise resolve against this page and request it as an image.
  function safeImageUrl(url) {
    if (typeof url !== "string" || !url.trim()) return "";
    try {
      const parsed = new URL(url.trim());
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : "";
    } catch (e) {
      return "";
    }
  }

  // Select top_k from a URL: a valid value missing from the dropdown (e.g. 5) is added to it;
  // an absent or invalid one selects the page's default.
  function setTopK(value) {
    const text = String(value || "").trim();
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < 1 || n > MAX_TOP_K) {
      topK.value = [...topK.options].find((o) => o.defaultSelected).value;
      return;
    }
    if (![...topK.options].some((o) => Number(o.value) === n)) {
      topK.add(new Option(String(n)), [...topK.options].find((o) => Number(o.value) > n) || null);
    }
    topK.value = String(n);
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
    if (src) {
      img.src = src;
      img.alt = "Cover of " + String(result.title || "");
    } else {
      const placeholder = document.createElement("div");
      placeholder.className = "cover no-cover";
      placeholder.textContent = "No cover";
      img.replaceWith(placeholder);
    }
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
    params.set("top_k", topK.value);
    if (push) {
      const page = new URLSearchParams(params);
      page.delete("edition_key");
      if (state.like) page.set("like", state.like);
      history.pushState(state, "", "?" + page.toString());
    }
    const runId = ++latestRun;
    setStatus("Searching…");
    let body = null;
    let failure = "";
    try {
      const response = await fetch(endpoint + "?" + params.toString(), { headers: { Accept: "application/json" } });
      // a proxy or a crashed server may answer with HTML or plain text: only parse JSON
      if ((response.headers.get("Content-Type") || "").startsWith("application/json")) {
        body = await response.json();
      }
      if (!response.ok || !body || !Array.isArray(body.results)) {
        failure = (body && typeof body.error === "string" && body.error) ||
          "Search failed: the server answered " + response.status + " " + response.statusText;
      }
    } catch (err) {
      failure = "Search failed: " + err;
    }
    if (runId !== latestRun) return;
    if (failure) {
      grid.replaceChildren();
      setStatus(failure, true);
      return;
    }
    grid.replaceChildren(...body.results.map(card));
    const what = state.like ? "covers like " + state.like : "results";
    setStatus(body.results.length ? body.results.length + " " + what : "No " + what);
  }

  // Put the form in the state the URL describes (on load and on Back/Forward): every field is
  // reset, since run() reads years and top_k from the form, then search, or clear the results.
  function fromLocation() {
    const params = new URLSearchParams(window.location.search);
    const [from = "", to = from] = (params.get("years") || "").split("-");
    $("year-from").value = from;
    $("year-to").value = to;
    $("q").value = params.get("q") || "";
    setTopK(params.get("top_k"));
    if (params.get("like")) {
      run({ like: params.get("like") }, false);
    } else if (params.get("q")) {
      run({ q: params.get("q") }, false);
    } else {
      latestRun++;
      grid.replaceChildren();
      setStatus("");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run({ q: $("q").value }, true);
  });
  window.addEventListener("popstate", fromLocation);
  fromLocation();
})();
