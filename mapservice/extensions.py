"""Flask extensions, created bare here and bound to the app in ``create_app``."""
from flask_babel import Babel
from flask_compress import Compress
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from mapservice.db_routing import RoutingSession
from mapservice.models.base import Base

db = SQLAlchemy(model_class=Base, session_options={"class_": RoutingSession})
migrate = Migrate()
babel = Babel()
compress = Compress()

# Accounts: sessions, CSRF on every form, rate limits (storage: RATELIMIT_STORAGE_URI).
from flask_limiter import Limiter  # noqa: E402
from flask_limiter.util import get_remote_address  # noqa: E402
from flask_login import LoginManager  # noqa: E402
from flask_wtf.csrf import CSRFProtect  # noqa: E402

login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)

# Open data: CORS on the public read API (configured in consumers.init_app).
from flask_cors import CORS  # noqa: E402

cors = CORS()
