from flask_wtf import FlaskForm


class EmptyForm(FlaskForm):
    """Only the CSRF token, for POST buttons."""
