"""The market's open data: DECP v2 (données essentielles de la commande publique) and OCDS 1.1
(implementation: amendments, payments, monthly statements).  Never any beneficiary data."""
