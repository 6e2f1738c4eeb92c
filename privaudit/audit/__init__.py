"""Privacy auditing: canaries, audit records and ε lower bounds from membership guesses."""
