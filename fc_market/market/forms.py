from flask_wtf import FlaskForm
from wtforms import SelectField


class LotManagerForm(FlaskForm):
    manager = SelectField("Chargé(e) de marché référent", choices=[])
