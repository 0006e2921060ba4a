"""GET /v1/users: the tenant's directory searched by part of an email, a name or an id, in any
case, a page at a time; another tenant's users never appear."""

from __future__ import annotations

import uuid

from tests.support import ApiClient


async def _put(api: ApiClient, external_id: str, email: str, first: str, last: str) -> None:
    body = {"email": email, "first_name": first, "last_name": last}
    response = await api.put(f"/v1/users/{external_id}", json=body)
    assert response.status_code == 201, response.text


async def _search(api: ApiClient, **params: str | int | None) -> dict[str, object]:
    response = await api.get("/v1/users", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _ids(page: dict[str, object]) -> list[str]:
    data = page["data"]
    assert isinstance(data, list)
    return [user["external_id"] for user in data]


async def test_a_fragment_of_a_name_an_email_or_an_id_finds_the_user(
    api: ApiClient, other_api: ApiClient
) -> None:
    tag = uuid.uuid4().hex[:6]
    await _put(api, f"u1-{tag}", f"lea.dupont+{tag}@example.com", "Léa", "Dupont")
    await _put(api, f"u2-{tag}", f"marc+{tag}@example.com", "Marc", "Durand")
    await _put(api, f"u3-{tag}", f"x_y+{tag}@example.com", "Zoé", "Martin")
    await _put(other_api, f"u9-{tag}", f"lea.other+{tag}@example.com", "Léa", "Autre")

    assert _ids(await _search(api, q="DUPONT")) == [f"u1-{tag}"]
    assert _ids(await _search(api, q="léa")) == [f"u1-{tag}"]  # not the other tenant's Léa
    assert _ids(await _search(api, q=f"marc+{tag}")) == [f"u2-{tag}"]
    assert _ids(await _search(api, q=f"u3-{tag}")) == [f"u3-{tag}"]
    assert _ids(await _search(api, q="x_y")) == [f"u3-{tag}"]  # _ is a character, not a wildcard
    assert _ids(await _search(api, q="%")) == []
    assert sorted(_ids(await _search(api, q=tag))) == [f"u1-{tag}", f"u2-{tag}", f"u3-{tag}"]


async def test_the_directory_comes_a_page_at_a_time(api: ApiClient) -> None:
    tag = uuid.uuid4().hex[:6]
    for n in range(5):
        await _put(api, f"p{n}-{tag}", f"p{n}+{tag}@example.com", f"P{n}", "Page")
    first = await _search(api, q=tag, limit=2)
    second = await _search(api, q=tag, limit=2, after=str(first["next_cursor"]))
    third = await _search(api, q=tag, limit=2, after=str(second["next_cursor"]))
    assert (_ids(first), first["has_more"]) == ([f"p0-{tag}", f"p1-{tag}"], True)
    assert (_ids(second), second["has_more"]) == ([f"p2-{tag}", f"p3-{tag}"], True)
    assert (_ids(third), third["has_more"], third["next_cursor"]) == ([f"p4-{tag}"], False, None)


async def test_bad_searches_are_problems(api: ApiClient) -> None:
    too_long = await api.get("/v1/users", params={"q": "x" * 101})
    bad_limit = await api.get("/v1/users", params={"limit": 0})
    control = await api.get("/v1/users", params={"q": "a\x00b"})
    for response in (too_long, bad_limit, control):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
