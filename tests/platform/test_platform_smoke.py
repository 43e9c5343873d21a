from platform_client import Renewal, ec_key, unb64


def test_flow(platform):
    r = Renewal(platform)
    new_key, res = r.issue()
    assert res.status == 201, res
    serial = res.json["serial"]
    c = r.client.post(r.path("/confirm"), {"serial": serial})
    assert c.status == 200, c
    assert c.json["order_status"] == "completed"
    s = r.client.get(r.path("/seal"))
    assert s.status == 200, s
