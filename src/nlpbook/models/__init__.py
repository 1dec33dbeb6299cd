"""The chapters' models; each module says which chapter introduces it."""
