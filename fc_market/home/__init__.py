"""The to-do home of each role: what is waiting for the user, each item linking to where it
is done.  The lists are computed in :mod:`fc_market.home.service`."""
