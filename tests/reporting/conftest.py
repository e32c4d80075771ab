import pytest

from tests.reporting.helpers import add_sites, lot


@pytest.fixture
def sites(market):
    add_sites()


@pytest.fixture
def idf(market, sites):
    return lot("IDF")


@pytest.fixture
def bre(market, sites):
    return lot("BRE")
