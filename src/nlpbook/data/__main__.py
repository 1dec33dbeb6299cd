"""`python -m nlpbook.data {list,stage DIR,fetch NAME...,profile [quick|full]}`."""

from nlpbook.data import main

main()
