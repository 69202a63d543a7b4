"""Host4 joined: it gets the next free subnet; the first three keep theirs (sticky)."""


def test_joined_cluster(check_cluster):
    check_cluster(["host1", "host2", "host3", "host4"])
