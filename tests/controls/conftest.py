"""Controls fixtures."""
import pytest

from tests.billing.helpers import lot


@pytest.fixture
def idf(market):
    return lot("IDF")


@pytest.fixture
def bre(market):
    return lot("BRE")
