"""hostgw_group_problems: the plays' group against what the inventory says."""

from ansible_collections.podnet.hostgw.plugins.filter.group import hostgw_group_problems

GROUPS = {"all": ["n1", "n2", "n3"], "ungrouped": [], "k8s_cluster": ["n1", "n2"], "etcd": ["n3"]}


def hostvars(**values):
    return {host: ({"hostgw_group": values[host]} if host in values else {}) for host in GROUPS["all"]}


def test_no_problem_when_the_inventory_agrees_or_says_nothing():
    assert hostgw_group_problems("k8s_cluster", GROUPS, hostvars()) == []
    assert hostgw_group_problems("k8s_cluster", GROUPS, hostvars(n1="k8s_cluster", n2="k8s_cluster")) == []


def test_group_vars_the_plays_cannot_see_are_named_with_their_hosts_and_the_ways_out():
    problems = hostgw_group_problems("hostgw_nodes", GROUPS,
                                     hostvars(n1="k8s_cluster", n2="k8s_cluster", n3="k8s_cluster"),
                                     ["/inv/hosts.yml"])
    assert len(problems) == 2
    assert problems[0].startswith("hostgw_group 'k8s_cluster' is set in the inventory (group_vars or host_vars of "
                                  "n1, n2, n3), but a play's hosts: never sees inventory variables")
    assert "the playbooks target the group 'hostgw_nodes'" in problems[0]
    assert "-e hostgw_group=k8s_cluster" in problems[0] and "import_playbook" in problems[0]
    assert problems[1] == ("hostgw_group 'hostgw_nodes' names no group with hosts in the inventory "
                           "(/inv/hosts.yml)")


def test_a_group_with_hosts_is_still_wrong_when_the_roles_would_read_another():
    problems = hostgw_group_problems("etcd", GROUPS, hostvars(n1="k8s_cluster"))
    assert problems == [p for p in problems if p.startswith("hostgw_group 'k8s_cluster' is set")]
    assert len(problems) == 1 and "of n1)" in problems[0]


def test_many_hosts_are_counted_not_listed():
    groups = {"all": ["h%02d" % i for i in range(20)], "k8s_cluster": ["h00"]}
    problems = hostgw_group_problems("k8s_cluster", groups,
                                     {h: {"hostgw_group": "other"} for h in groups["all"]})
    assert "of h00, h01, h02, h03, h04 and 15 more)" in problems[0]


def test_no_inventory_and_odd_values():
    assert hostgw_group_problems("hostgw_nodes", {"all": [], "ungrouped": []}, {}, []) == [
        "hostgw_group 'hostgw_nodes' names no group with hosts in the inventory (none given; pass one with -i)"]
    problems = hostgw_group_problems("k8s_cluster", GROUPS, hostvars(n1=["a", "b"]))
    assert problems[0].startswith("hostgw_group ['a', 'b'] is set in the inventory")
