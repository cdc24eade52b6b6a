/* Progressive enhancement for the public pages; every page works without this file.
   Quick exit, "use my location", town suggestions, directions fallback, offline copies. */
(function () {
  "use strict";
  var doc = document;

  // Quick exit: leave at once, replacing this page in the history (the back button skips it).
  function quickExit(event) {
    var link = doc.querySelector("[data-quick-exit]");
    if (!link) return;
    if (event) event.preventDefault();
    try { doc.body.style.display = "none"; doc.title = ""; } catch (e) { /* keep going */ }
    window.location.replace(link.href);
  }
  doc.addEventListener("click", function (event) {
    var target = event.target.closest && event.target.closest("[data-quick-exit]");
    if (target) quickExit(event);
  });
  var escapes = 0;
  doc.addEventListener("keydown", function (event) {
    // Escape pressed three times in a row also leaves.
    if (event.key === "Escape") { escapes += 1; if (escapes >= 3) quickExit(); } else { escapes = 0; }
  });

  // A coordinate as the server's canonical search URL writes it: 3 decimals (~110 m), no
  // trailing zeros (mapservice.http_cache.canonical_coordinate), so no redirect is needed.
  function canonicalCoordinate(value) {
    return String(Number(value.toFixed(3)));
  }

  // "Use my location": fill lat/lon (rounded to ~110 m) and submit the plain form.
  var locateForm = doc.querySelector("[data-locate-form]");
  if (locateForm && "geolocation" in navigator) {
    locateForm.hidden = false;
    var status = locateForm.querySelector("[data-locate-status]");
    locateForm.addEventListener("submit", function (event) {
      if (locateForm.elements.lat.value) return;
      event.preventDefault();
      status.textContent = status.getAttribute("data-msg-wait");
      navigator.geolocation.getCurrentPosition(function (pos) {
        locateForm.elements.lat.value = canonicalCoordinate(pos.coords.latitude);
        locateForm.elements.lon.value = canonicalCoordinate(pos.coords.longitude);
        locateForm.submit();
      }, function () {
        status.textContent = status.getAttribute("data-msg-denied");
        var town = doc.getElementById("q");
        if (town) town.focus();
      }, { enableHighAccuracy: false, timeout: 15000, maximumAge: 600000 });
    });
  }

  // Town suggestions from the gazetteer, into the input's <datalist>.
  var town = doc.querySelector("[data-town-suggest]");
  var list = town && doc.getElementById(town.getAttribute("list"));
  if (town && list && window.fetch) {
    var timer = null;
    var asked = "";
    town.addEventListener("input", function () {
      clearTimeout(timer);
      var q = town.value.trim();
      if (q.length < 3 || q === asked || q.indexOf(",") !== -1) return;
      timer = setTimeout(function () {
        asked = q;
        fetch(town.getAttribute("data-town-suggest") + "?limit=6&q=" + encodeURIComponent(q))
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (places) {
            list.textContent = "";
            places.forEach(function (p) {
              var option = doc.createElement("option");
              option.value = p.name + ", " + (p.admin1 || p.country);
              list.appendChild(option);
            });
          })
          .catch(function () { /* offline: no suggestions, the form still works */ });
      }, 250);
    });
  }

  // geo: links open the phone's map app; elsewhere use the OpenStreetMap fallback.
  if (!/android|iphone|ipad/i.test(navigator.userAgent)) {
    Array.prototype.forEach.call(doc.querySelectorAll("a[data-fallback]"), function (a) {
      a.href = a.getAttribute("data-fallback");
    });
  }

  // Offline page: list the pages this phone saved.
  var saved = doc.querySelector("[data-saved-pages]");
  if (saved && window.caches) {
    caches.open("pages").then(function (cache) { return cache.keys(); }).then(function (requests) {
      var pages = requests.filter(function (r) { return /\/(search|services\/\d+)/.test(r.url); });
      if (!pages.length) {
        var none = doc.createElement("li");
        none.textContent = saved.getAttribute("data-empty");
        saved.appendChild(none);
        return;
      }
      pages.reverse().forEach(function (r) {
        caches.match(r).then(function (response) {
          return response.text().then(function (html) {
            var title = new DOMParser().parseFromString(html, "text/html").title || r.url;
            var li = doc.createElement("li");
            var a = doc.createElement("a");
            a.href = r.url;
            a.textContent = title;
            li.appendChild(a);
            saved.appendChild(li);
          });
        });
      });
    });
  }

  if ("serviceWorker" in navigator && location.protocol !== "file:") {
    navigator.serviceWorker.register("/sw.js").catch(function () { /* no offline copies */ });
  }
})();
