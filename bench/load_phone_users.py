"""Locust scenario: displaced people on phones searching for help and opening services.

Each simulated user, after a few seconds of reading between taps (a phone on 3G): searches
near a town of the seven countries (the results page), opens one or two of the services
listed, sometimes narrows by a need, sometimes types a town name, sometimes asks the JSON API.
Run through ``bench/load_drill.py`` (which starts gunicorn and a database); every request is
also written to ``LOAD_EVENTS_FILE`` (JSON lines: start time, name, status, ok) so the drill
can tell which failures happened while the database was down.
"""
from __future__ import annotations

import json
import os
import random
import re
import threading

from locust import HttpUser, between, events, task

# A spread of towns over the seven MIRPS countries (lat, lon, name).
TOWNS = [
    (14.9056, -92.2633, "Tapachula"), (32.5149, -117.0382, "Tijuana"), (25.6866, -100.3161, "Monterrey"),
    (19.4326, -99.1332, "Ciudad de México"), (16.7370, -92.6376, "San Cristóbal de las Casas"),
    (14.6349, -90.5069, "Guatemala"), (15.3170, -91.4720, "Huehuetenango"), (13.6929, -89.2182, "San Salvador"),
    (15.5042, -88.0250, "San Pedro Sula"), (14.0723, -87.1921, "Tegucigalpa"), (9.9281, -84.0907, "San José"),
    (10.6346, -85.4407, "Liberia"), (8.9824, -79.5199, "Panamá"), (8.4110, -77.8250, "Metetí"),
    (17.2514, -88.7590, "Belmopan"), (17.4995, -88.1976, "Belize City"),
]  # fmt: skip
NEEDS = ["protection", "protection.legal", "protection.shelter", "protection.health", "livelihoods", ""]
SERVICE_LINK = re.compile(r'href="/services/(\d+)"')

_events_lock = threading.Lock()
_events_file = open(os.environ["LOAD_EVENTS_FILE"], "a") if os.environ.get("LOAD_EVENTS_FILE") else None  # noqa: SIM115


@events.request.add_listener
def record(request_type, name, response_time, response_length, exception, context, start_time=None,
           response=None, **kwargs):  # fmt: skip
    """Write one JSON line per request for the drill's analysis."""
    if _events_file is None:
        return
    status = getattr(response, "status_code", 0) if response is not None else 0
    line = json.dumps({"t": start_time, "name": name, "status": status, "ok": exception is None,
                       "ms": round(response_time, 1)})  # fmt: skip
    with _events_lock:
        _events_file.write(line + "\n")
        _events_file.flush()


class PhoneUser(HttpUser):
    """One person on a cheap phone looking for help."""

    wait_time = between(1, 4)

    def on_start(self):
        self.town = random.choice(TOWNS)
        self.seen: list[str] = []

    def _near(self):
        lat, lon, _ = self.town
        return f"{lat + random.uniform(-0.05, 0.05):.5f}", f"{lon + random.uniform(-0.05, 0.05):.5f}"

    def _open_some(self, page: str):
        ids = SERVICE_LINK.findall(page)
        if ids:
            self.seen = ids
        for sid in random.sample(self.seen, min(len(self.seen), random.choice([1, 1, 2]))):
            self.client.get(f"/services/{sid}", name="/services/[id]")

    @task(5)
    def search_near_me_and_open(self):
        lat, lon = self._near()
        need = random.choice(NEEDS)
        query = f"/search?lat={lat}&lon={lon}" + (f"&category={need}" if need else "")
        with self.client.get(query, name="/search?lat&lon", catch_response=True) as response:
            if response.status_code == 200 and "/services/" not in response.text:
                response.failure("no results listed")
        if response.status_code == 200:
            self._open_some(response.text)

    @task(2)
    def search_by_town(self):
        response = self.client.get(f"/search?q={self.town[2]}", name="/search?q")
        if response.status_code == 200:
            self._open_some(response.text)

    @task(1)
    def home(self):
        self.client.get("/", name="/")

    @task(2)
    def api_nearby(self):
        lat, lon = self._near()
        self.client.get(f"/api/v1/services/nearby?lat={lat}&lon={lon}&limit=10", name="/api/v1/services/nearby")
