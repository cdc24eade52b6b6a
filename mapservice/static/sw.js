/* Service worker: the last searches and the service pages a visitor opened stay readable
   without signal, marked with the time they were fetched.  Nothing is sent anywhere. */
"use strict";
var PAGES = "pages";
var ASSETS = "assets";
var KEEP_SEARCHES = 5;
var KEEP_SERVICES = 30;

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(PAGES).then(function (pages) {
      return fetch("/offline").then(function (response) {
        if (!response.ok) return;
        return response.clone().text().then(function (html) {
          return pages.put("/offline", response).then(function () {
            // The offline page's own CSS and JS, so that it renders without signal.
            var urls = [];
            html.replace(/(?:href|src)="(\/(?:static|vendor)\/[^"]+)"/g, function (_, url) {
              urls.push(url.replace(/&amp;/g, "&"));
            });
            return caches.open(ASSETS).then(function (assets) { return assets.addAll(urls); });
          });
        });
      });
    }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

// Search pages and maps are asked for at 3 decimals (~110 m), as the server's canonical URL
// writes them (mapservice.http_cache): a more precise link is redirected here, without a
// round trip, and the saved copies are keyed by the canonical URL.
var DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;

function canonicalCoordinate(raw) {
  var text = raw.trim();
  if (!DECIMAL.test(text)) return null;
  var value = Number(text);
  return isFinite(value) ? String(Number(value.toFixed(3))) : null;
}

function canonicalSearchUrl(url) {
  if (url.pathname !== "/search" && url.pathname !== "/map") return null;
  var params = url.searchParams;
  var changed = false;
  ["lat", "lon"].forEach(function (name) {
    var values = params.getAll(name);
    if (values.length !== 1) return;
    var snapped = canonicalCoordinate(values[0]);
    if (snapped !== null && snapped !== values[0]) {
      params.set(name, snapped);
      changed = true;
    }
  });
  return changed ? url.href : null;
}

function kind(url) {
  if (url.pathname === "/search") return "search";
  if (/^\/services\/\d+$/.test(url.pathname)) return "service";
  if (url.pathname === "/") return "home";
  return null;
}

// Keep only the newest entries of one kind (cache keys are in insertion order).
function trim(cache, which, keep) {
  return cache.keys().then(function (requests) {
    var mine = requests.filter(function (r) { return kind(new URL(r.url)) === which; });
    return Promise.all(mine.slice(0, Math.max(0, mine.length - keep)).map(function (r) {
      return cache.delete(r);
    }));
  });
}

function save(request, response, which) {
  var headers = new Headers(response.headers);
  headers.set("X-Saved-At", new Date().toISOString());
  return response.clone().blob().then(function (body) {
    var stamped = new Response(body, { status: response.status, statusText: response.statusText, headers: headers });
    return caches.open(PAGES).then(function (cache) {
      return cache.delete(request).then(function () { return cache.put(request, stamped); }).then(function () {
        if (which === "search") return trim(cache, which, KEEP_SEARCHES);
        if (which === "service") return trim(cache, which, KEEP_SERVICES);
      });
    });
  });
}

// A saved copy, with the "saved on <time>" note of the page made visible.
function savedCopy(response) {
  var savedAt = response.headers.get("X-Saved-At");
  return response.text().then(function (html) {
    var lang = (/<html lang="([a-z-]+)"/.exec(html) || [])[1] || "es";
    var when = savedAt ? new Date(savedAt) : null;
    var label = when ? when.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" }) : "";
    html = html.replace("data-saved-note hidden", "data-saved-note")
      .replace("<time data-saved-at></time>",
               '<time data-saved-at datetime="' + (savedAt || "") + '">' + label + "</time>");
    return new Response(html, { headers: { "Content-Type": "text/html; charset=utf-8" } });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;

  if (url.pathname.indexOf("/static/") === 0 || url.pathname.indexOf("/vendor/") === 0) {
    event.respondWith(caches.open(ASSETS).then(function (cache) {
      return cache.match(request).then(function (hit) {
        return hit || fetch(request).then(function (response) {
          if (response.ok) cache.put(request, response.clone());
          return response;
        });
      });
    }));
    return;
  }

  if (request.mode !== "navigate") return;
  var canonical = canonicalSearchUrl(new URL(request.url));
  if (canonical) {
    event.respondWith(Response.redirect(canonical, 301));
    return;
  }
  var which = kind(url);
  event.respondWith(
    fetch(request).then(function (response) {
      if (which && response.ok) event.waitUntil(save(request, response, which));
      return response;
    }).catch(function () {
      return caches.open(PAGES).then(function (cache) {
        return cache.match(request).then(function (hit) {
          if (hit) return savedCopy(hit);
          return cache.match("/offline").then(function (offline) {
            return offline || new Response("offline", { status: 503 });
          });
        });
      });
    })
  );
});
