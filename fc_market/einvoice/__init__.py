"""Structured invoices (EN 16931): the Factur-X invoice fc_market expects for a certified
payable statement, and the reading of Factur-X, CII and UBL invoices the operators file."""
