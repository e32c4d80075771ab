"""fc_market: procurement and contract management for France compétences' CEP market."""
import os

from flask import Flask

import config as config_module
from fc_market.extensions import csrf, db, login_manager, migrate


def create_app(config_object=None, **overrides):
    """Application factory.  Nothing here talks to the database."""
    app = Flask(__name__,
                instance_relative_config=True,
                template_folder=os.path.join(os.path.dirname(os.path.dirname(__file__)), "templates"),
                static_folder=os.path.join(os.path.dirname(os.path.dirname(__file__)), "static"))
    app.config.from_object(config_object or config_module.Config)
    app.config.update(overrides)
    os.makedirs(app.instance_path, exist_ok=True)
    config_module.finalise(app)
    from fc_market.logging_setup import configure as configure_logging
    configure_logging(app)
    if app.config.get("PROXY_HOPS"):
        from werkzeug.middleware.proxy_fix import ProxyFix
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"),
                     compare_type=True, render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)

    from fc_market import models  # noqa: F401  (registers every model)
    from fc_market import unit_of_work
    unit_of_work.init_app(app)  # first: its after_request hook runs last
    from fc_market import events
    from fc_market.domains import submodules
    events.connect_handlers(submodules(events.HANDLER_FILE))  # domain events, at start-up
    from fc_market.web import register_web
    register_web(app)
    from fc_market.cli import register_cli
    register_cli(app)
    return app
