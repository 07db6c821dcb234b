"""The difficulty router: routes (cache, fast, standard, hard) by difficulty and a bandit."""
