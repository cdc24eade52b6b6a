"""Demo data: fictional organizations and services where displaced people pass.

Generated deterministically (fixed seed) and loaded through the same validator and
importer as a CSO's file; every demo organization and service is flagged ``is_demo`` and
its name says "(demo)", so no one mistakes it for a real service.
"""
from __future__ import annotations

import random

import phonenumbers
from sqlalchemy import text
from sqlalchemy.orm import Session

from mapservice.services.importer import ImportReport, import_listings, points_outside_country
from mapservice.services.listings import Listing

SEED = 20261129

# (town, country, lat, lon, services): the capitals, then places on the displacement routes.
HUBS = [
    ("Belmopan", "BZ", 17.2510, -88.7590, 10),
    ("San José", "CR", 9.9281, -84.0907, 12),
    ("San Salvador", "SV", 13.6929, -89.2182, 12),
    ("Ciudad de Guatemala", "GT", 14.6349, -90.5069, 12),
    ("Tegucigalpa", "HN", 14.0723, -87.1921, 12),
    ("Ciudad de México", "MX", 19.4326, -99.1332, 14),
    ("Ciudad de Panamá", "PA", 8.9824, -79.5199, 12),
    ("Tapachula", "MX", 14.9056, -92.2633, 16),
    ("Ciudad Hidalgo", "MX", 14.6794, -92.1497, 10),
    ("Tenosique", "MX", 17.4733, -91.4233, 11),
    ("Palenque", "MX", 17.5094, -91.9823, 8),
    ("Tijuana", "MX", 32.5149, -117.0382, 14),
    ("Ciudad Juárez", "MX", 31.6904, -106.4245, 10),
    ("Monterrey", "MX", 25.6866, -100.3161, 9),
    ("Reynosa", "MX", 26.0922, -98.2778, 8),
    ("Chetumal", "MX", 18.5001, -88.2961, 7),
    ("Acayucan", "MX", 17.9492, -94.9144, 7),
    ("Esquipulas", "GT", 14.5667, -89.3500, 10),
    ("Tecún Umán", "GT", 14.6753, -92.1428, 9),
    ("Quetzaltenango", "GT", 14.8347, -91.5181, 8),
    ("Santa Elena, Petén", "GT", 16.9167, -89.8833, 7),
    ("San Pedro Sula", "HN", 15.5042, -88.0250, 14),
    ("Ocotepeque", "HN", 14.4333, -89.1833, 9),
    ("Choluteca", "HN", 13.3007, -87.1908, 8),
    ("Danlí", "HN", 14.0333, -86.5833, 8),
    ("Soyapango (CUBO)", "SV", 13.7100, -89.1400, 8),
    ("Mejicanos (CUBO)", "SV", 13.7403, -89.2131, 8),
    ("Santa Ana", "SV", 13.9942, -89.5597, 7),
    ("San Miguel", "SV", 13.4833, -88.1833, 7),
    ("Upala", "CR", 10.8986, -85.0156, 9),
    ("Liberia", "CR", 10.6350, -85.4377, 7),
    ("Paso Canoas", "CR", 8.5333, -82.8333, 8),
    ("Metetí", "PA", 8.4960, -77.9766, 10),
    ("Lajas Blancas", "PA", 8.2800, -77.7900, 7),
    ("David", "PA", 8.4270, -82.4308, 8),
    ("Belize City", "BZ", 17.5046, -88.2062, 10),
    ("Benque Viejo del Carmen", "BZ", 17.0747, -89.1394, 7),
    ("Orange Walk", "BZ", 18.0811, -88.5633, 7),
]

# Organization name -> the category codes (or prefixes) it works on; "" = a generalist.
ORGANIZATIONS = {
    "BZ": {"Belize Refugee Help Desk (demo)": "", "Toledo Community Support (demo)": "livelihoods training"},
    "CR": {"Red Tica de Acogida (demo)": "", "Fundación Camino Seguro CR (demo)": "protection.gbv protection.child protection.mhpss protection.lgbtiq",
           "Emplea Costa Rica Inclusiva (demo)": "livelihoods training"},
    "SV": {"Centro de Atención Integral Retorno Digno (demo)": "", "Asociación Raíces y Futuro (demo)": "livelihoods training protection.mhpss"},
    "GT": {"Casa del Caminante Guatemala (demo)": "", "Pastoral de Movilidad Humana GT (demo)": "protection",
           "Formación para Todos GT (demo)": "training livelihoods"},
    "HN": {"Casa Alianza Ruta Segura HN (demo)": "protection.child protection.shelter protection.trafficking protection.family",
           "Centro Comunitario Esperanza (demo)": "", "Emprende Honduras (demo)": "livelihoods training.vocational"},
    "MX": {"Albergue Frontera Sur (demo)": "", "Clínica Jurídica Migrante MX (demo)": "protection.legal protection.asylum protection.documentation protection.trafficking livelihoods.work_permits",
           "Red de Empleo Digno MX (demo)": "livelihoods", "Casa de la Mujer Migrante (demo)": "protection.gbv protection.lgbtiq protection.mhpss",
           "Escuela Abierta sin Fronteras (demo)": "training"},
    "PA": {"Puente Humanitario Darién (demo)": "", "Clínica Móvil Istmo (demo)": "protection.health protection.mhpss protection.humanitarian",
           "Oportunidades Panamá (demo)": "livelihoods training"},
}
REGIONAL_ORGANIZATIONS = {"Red Regional de Protección MIRPS (demo)": "protection", "Formación Digital Centroamérica (demo)": "training.digital training.language"}


def _organization_for(rng: random.Random, country: str, category: str) -> str:
    """A demo organization of ``country`` (or a regional one) that works on ``category``.

    National specialists are twice as likely as national generalists or regional networks.
    """

    def works_on(focus: str) -> bool:
        return any(category == f or category.startswith(f + ".") for f in focus.split())

    national = ORGANIZATIONS[country]
    candidates = [name for name, focus in national.items() if works_on(focus)] * 2
    candidates += [name for name, focus in national.items() if not focus]
    candidates += [name for name, focus in REGIONAL_ORGANIZATIONS.items() if works_on(focus)]
    return rng.choice(candidates)


# (name, description, categories, populations, hours, free, confidential)
SERVICE_TEMPLATES = [
    ("Orientación sobre asilo", "Información y acompañamiento para solicitar la condición de persona refugiada.",
     ["protection.asylum", "protection.legal"], ["asylum_seekers", "refugees"], "Mo-Fr 08:00-16:00", True, False),
    ("Asesoría legal gratuita", "Abogadas y abogados atienden casos de regularización, detención y documentos.",
     ["protection.legal"], ["asylum_seekers", "migrants", "refugees"], "Mo-Fr 09:00-15:00", True, False),
    ("Trámite de documentos de identidad", "Apoyo para obtener actas, pasaportes y documentos migratorios.",
     ["protection.documentation"], ["refugees", "stateless", "returnees"], "Mo-Th 08:00-14:00", True, False),
    ("Albergue temporal", "Alojamiento de emergencia, comida y duchas. La dirección exacta se comparte por teléfono.",
     ["protection.shelter", "protection.humanitarian"], ["migrants", "asylum_seekers", "children", "women"], "24/7", True, True),
    ("Casa refugio para mujeres", "Espacio seguro y confidencial para mujeres y sus hijas e hijos que huyen de la violencia.",
     ["protection.gbv", "protection.shelter"], ["women", "children"], "24/7", True, True),
    ("Atención a sobrevivientes de violencia", "Atención psicológica, legal y médica a sobrevivientes de violencia basada en género.",
     ["protection.gbv", "protection.mhpss"], ["women", "lgbtiq"], "Mo-Fr 08:00-17:00", True, False),
    ("Espacio amigable para la niñez", "Actividades, protección y referencia de casos para niñas, niños y adolescentes.",
     ["protection.child"], ["children"], "Mo-Sa 09:00-13:00", True, False),
    ("Apoyo psicosocial", "Grupos de apoyo y atención individual en salud mental.",
     ["protection.mhpss"], ["idps", "returnees", "women"], "Mo-Fr 08:00-12:00", True, False),
    ("Consulta médica general", "Consulta general, primeros auxilios y medicamentos básicos.",
     ["protection.health"], ["migrants", "children", "older_persons"], "Mo-Su 07:00-19:00", True, False),
    ("Entrega de alimentos y kits", "Alimentos, kits de higiene y ayuda en efectivo para familias recién llegadas.",
     ["protection.humanitarian"], ["migrants", "asylum_seekers", "host_community"], "Tu,Th 09:00-13:00", True, False),
    ("Apoyo a personas LGBTIQ+", "Orientación, acompañamiento y espacio seguro para personas LGBTIQ+.",
     ["protection.lgbtiq", "protection.mhpss"], ["lgbtiq"], "We-Fr 10:00-16:00", True, False),
    ("Búsqueda de familiares", "Restablecimiento del contacto entre familiares separados y llamadas gratuitas.",
     ["protection.family"], ["migrants", "children"], "Mo-Fr 09:00-15:00", True, False),
    ("Bolsa de empleo", "Intermediación laboral con empresas que contratan a personas refugiadas.",
     ["livelihoods.employment", "training.rights"], ["refugees", "asylum_seekers", "host_community"], "Mo-Fr 08:00-16:00", True, False),
    ("Orientación sobre permisos de trabajo", "Cómo obtener y renovar el permiso de trabajo.",
     ["livelihoods.work_permits", "protection.legal"], ["refugees", "asylum_seekers"], "Mo,We,Fr 09:00-13:00", True, False),
    ("Capital semilla para emprendimientos", "Capacitación y capital semilla para iniciar un pequeño negocio.",
     ["livelihoods.entrepreneurship", "livelihoods.financial"], ["refugees", "returnees", "women"], "Mo-Fr 09:00-17:00", True, False),
    ("Certificación de competencias", "Evaluación y certificación de oficios aprendidos en el país de origen.",
     ["livelihoods.skills_recognition"], ["refugees", "returnees"], "Tu-Th 08:00-15:00", False, False),
    ("Curso técnico de oficios", "Cursos de 3 meses en panadería, electricidad y costura, con certificado.",
     ["training.vocational"], ["refugees", "host_community", "indigenous"], "Mo-Fr 14:00-18:00", False, False),
    ("Clases de español", "Clases de español para personas que hablan otras lenguas.",
     ["training.language"], ["refugees", "migrants"], "Tu,Th 17:00-19:00", True, False),
    ("Inscripción escolar", "Apoyo para inscribir a niñas y niños en la escuela y educación de adultos.",
     ["training.education"], ["children", "refugees", "returnees"], "Mo-Fr 08:00-12:00", True, False),
    ("Habilidades digitales", "Uso del teléfono, correo y trámites en línea.",
     ["training.digital"], ["older_persons", "women", "refugees"], "Sa 09:00-12:00", True, False),
    ("Taller de derechos", "Talleres sobre derechos de las personas refugiadas y migrantes.",
     ["training.rights"], ["migrants", "asylum_seekers", "host_community"], "We 15:00-17:00", True, False),
    ("Atención a víctimas de trata", "Identificación, protección y referencia de sobrevivientes de trata.",
     ["protection.trafficking", "protection.legal"], ["women", "children", "migrants"], "24/7", True, False),
]
LANGUAGES = {
    "BZ": ["en", "es", "cab"],
    "CR": ["es", "en"],
    "SV": ["es"],
    "GT": ["es", "quc", "mam"],
    "HN": ["es", "cab"],
    "MX": ["es", "en", "ht", "fr"],
    "PA": ["es", "en", "fr", "ht"],
}
STREETS = ["Calle Central", "Avenida Principal", "Barrio El Centro", "Colonia Las Flores", "Calle 5 de Mayo", "Avenida Bolívar"]


def _phone(rng: random.Random, country: str, kind: int) -> str:
    """A valid phone number of ``country`` (fixed line or mobile), varied from the example."""
    example = phonenumbers.example_number_for_type(country, kind)
    digits = str(example.national_number)
    for _ in range(200):
        tail = "".join(str(rng.randint(0, 9)) for _ in range(4))
        candidate = phonenumbers.parse(f"+{example.country_code}{digits[:-4]}{tail}")
        if phonenumbers.is_valid_number(candidate):
            return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


def demo_listings() -> list[Listing]:
    """The demo listings, the same on every run."""
    rng = random.Random(SEED)
    listings: list[Listing] = []
    line = 1
    for town, country, lat, lon, count in HUBS:
        templates = rng.sample(SERVICE_TEMPLATES, k=min(count, len(SERVICE_TEMPLATES)))
        # At most one confidential service per town.
        confidential_seen = False
        for i, (name, description, cats, pops, hours, free, confidential) in enumerate(templates):
            if confidential and confidential_seen:
                continue
            confidential_seen = confidential_seen or confidential
            line += 1
            org = _organization_for(rng, country, cats[0])
            # Within about 1.5 km of the town centre.
            plat = round(lat + rng.uniform(-0.012, 0.012), 5)
            plon = round(lon + rng.uniform(-0.012, 0.012), 5)
            langs = LANGUAGES[country][: rng.randint(1, len(LANGUAGES[country]))]
            slug = "".join(ch for ch in town.lower() if ch.isalnum())[:10]
            listings.append(
                Listing(
                    organization=org,
                    external_id=f"demo-{slug}-{i:02d}",
                    name=f"{name} — {town} (demo)",
                    description=description + " Datos de demostración: este servicio no existe.",
                    categories=list(cats),
                    populations=list(pops),
                    languages=list(langs),
                    country=country,
                    address=None if confidential else f"{rng.choice(STREETS)} {rng.randint(1, 99)}, {town}",
                    lat=plat,
                    lon=plon,
                    phone=_phone(rng, country, phonenumbers.PhoneNumberType.FIXED_LINE),
                    whatsapp=_phone(rng, country, phonenumbers.PhoneNumberType.MOBILE) if rng.random() < 0.7 else None,
                    email=f"contacto+{slug}{i}@example.org",
                    website="https://example.org/" + slug if rng.random() < 0.5 else None,
                    hours=hours,
                    free=free,
                    confidential=confidential,
                    line=line,
                )
            )
    return listings


def seed_demo(session: Session) -> ImportReport:
    """Load the demo listings (idempotent) and flag their organizations and services as demo."""
    listings = demo_listings()
    # A jittered point may fall just off Natural Earth's coarse coastline: leave those out.
    outside = {int(e.split(":", 1)[0].split()[1]) for e in points_outside_country(session, listings)}
    listings = [x for x in listings if x.line not in outside]
    report = import_listings(session, listings, demo=True)
    names = sorted({x.organization for x in listings})
    session.execute(
        text("UPDATE organization SET is_demo = true WHERE name = ANY(:names) AND NOT is_demo"),
        {"names": names},
    )
    session.execute(
        text(
            "UPDATE service s SET is_demo = true FROM organization o "
            "WHERE o.id = s.organization_id AND o.name = ANY(:names) AND NOT s.is_demo"
        ),
        {"names": names},
    )
    return report
