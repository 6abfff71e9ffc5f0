// Refreshes the review queue's counters and list every few seconds without reloading the page.
// Loaded from a file (the Content-Security-Policy allows no inline script). The server renders
// the fragment with every value escaped.
(function () {
  "use strict";
  var live = document.getElementById("queue-live");
  if (!live) {
    return;
  }
  var url = live.getAttribute("data-live-url");
  var seconds = parseFloat(live.getAttribute("data-poll-seconds")) || 5;
  var busy = false;

  function refresh() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    fetch(url + window.location.search, {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
      redirect: "error",
    })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null) {
          live.innerHTML = html;
        }
      })
      .catch(function () {
        // The server is restarting or the network is down: try again on the next tick.
      })
      .then(function () {
        busy = false;
      });
  }

  window.setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", refresh);
})();
