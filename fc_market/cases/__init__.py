"""Flag cases: flags that lead to action."""
