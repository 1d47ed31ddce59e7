"""Cohort administration through the real router, dispatcher and database."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.bootstrap import App
from handlers.core.ids import Platform
from storage.models import AuditEntry, Cohort, Delegation, Member, PlatformIdentity
from tests.conftest import load_demo
from tests.support.chat import Speaker, person


async def count(app: App, model: type) -> int:
    async with app.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_newcomer_builds_a_cohort_in_a_minute(app: App, op: Speaker) -> None:
    text = await op.say('cohorte creer "Cohorte Occitanie" fuseau=Europe/Paris')
    assert "Cohorte Occitanie créée (identifiant cohorte-occitanie" in text
    assert "Commune de Gruissan" in await op.say("delegation ajouter Commune de Gruissan")
    text = await op.say("membre ajouter Zoé Durand delegation=gruissan categorie=elu referent=oui")
    assert "Zoé Durand ajouté·e à la délégation Commune de Gruissan (élu·e, référent·e)" in text
    listing = await op.say("membre lister")
    assert "Commune de Gruissan" in listing and "Zoé Durand — élu·e · référent·e" in listing
    assert "aide" in await op.say("aide")
    async with app.db.session() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert actions == ["cohort.create", "delegation.add", "member.add"]


async def test_a_member_is_refused_coordinator_verbs_politely(app: App, op: Speaker) -> None:
    await load_demo(app)
    await op.say('membre lier "Bernard Roux" matrix:@bernard:localhost')
    bernard = person(app, Platform.MATRIX, "@bernard:localhost", "!room:localhost")
    before = await count(app, Delegation)
    text = await bernard.say("delegation ajouter Commune de Nulle-Part")
    assert "réservé à la coordination de la cohorte" in text
    assert await count(app, Delegation) == before
    assert "Commune de Barre-des-Cévennes" in await bernard.say("delegation lister")


async def test_a_stranger_is_told_how_to_join(app: App) -> None:
    stranger = person(app, Platform.SLACK, "U999", "C1")
    text = await stranger.say("membre lister")
    assert "Vous ne faites encore partie d'aucune cohorte" in text and "moi lier CODE" in text
    me = await stranger.say("moi")
    assert "Je ne stocke rien sur vous" in me


async def test_link_code_lets_a_member_link_themselves_once(app: App, op: Speaker) -> None:
    await load_demo(app)
    text = await op.say('membre lier "Karim Benali"')
    code = text.split("Code pour Karim Benali : ")[1].split(" ")[0]
    karim = person(app, Platform.SLACK, "UKARIM", "C1")
    assert "Bienvenue Karim Benali" in await karim.say(f"moi lier {code}")
    assert "Montpellier Méditerranée Métropole" in await karim.say("moi")
    thief = person(app, Platform.MATRIX, "@thief:localhost", "!r:localhost")
    assert "code n'est pas valable" in await thief.say(f"moi lier {code}")
    async with app.db.session() as session:
        links = (await session.scalars(select(PlatformIdentity.user_id))).all()
    assert "@thief:localhost" not in links and "UKARIM" in links


async def test_a_command_acts_only_on_the_callers_cohort(app: App, op: Speaker) -> None:
    await load_demo(app)
    await op.say('cohorte creer "Cohorte Bretagne" slug=bretagne')
    await op.say("delegation ajouter Brest cohorte=bretagne")
    await op.say('membre ajouter Yann Le Gall delegation=Brest categorie=agent cohorte=bretagne')
    await op.say('membre lier "Yann Le Gall" slack:UYANN cohorte=bretagne')
    yann = person(app, Platform.SLACK, "UYANN", "C-BZH")
    listing = await yann.say("membre lister")
    assert "Brest" in listing and "Gruissan" not in listing
    refused = await yann.say("membre lister cohorte=occitanie")
    assert "Je ne trouve pas la cohorte" in refused and "bretagne" in refused
    await op.elsewhere("occitanie-room").say("cohorte lier occitanie")
    in_other_room = await yann.elsewhere("occitanie-room").say("membre lister")
    assert "Gruissan" not in in_other_room


async def test_room_linking(app: App, op: Speaker) -> None:
    await op.say('cohorte creer "A"')
    await op.say('cohorte creer "B"')
    room = op.elsewhere("salon")
    assert "maintenant celui de la cohorte A" in await room.say("cohorte lier a")
    assert "déjà lié à la cohorte A" in await room.say("cohorte lier b")
    assert "n'est plus lié" in await room.say("cohorte delier")


async def test_unknown_names_get_close_candidates(app: App, op: Speaker) -> None:
    await load_demo(app)
    text = await op.say('membre modifier Bernar Rous referent=non')
    assert "Bernard Roux" in text and "Je ne trouve personne" in text
    text = await op.say("membre ajouter X delegation=Gruisan")
    assert "Commune de Gruissan" in text and "Je ne trouve pas de délégation" in text
    text = await op.say("membre modifier Commune referent=non")
    assert "Je ne trouve personne" in text


async def test_bad_input_writes_nothing(app: App, op: Speaker) -> None:
    await load_demo(app)
    members, audit = await count(app, Member), await count(app, AuditEntry)
    for line in ['membre ajouter "X', "membre ajouter", "membre ajouter X delegation=Gruissan "
                 "categorie=maire", "membre ajouter X delegation=Gruissan referent=peut-être",
                 "cohorte creer X fuseau=Mars/Olympus", "x" * 5000, "membre\x07 lister"]:
        text = await op.say(line)
        assert text and "Traceback" not in text
    assert await count(app, Member) == members
    assert await count(app, AuditEntry) == audit


async def test_erasure_asks_for_confirmation_then_forgets_the_person(app: App, op: Speaker
                                                                       ) -> None:
    await load_demo(app)
    await op.say('membre lier "Chloé Maurin" matrix:@chloe:localhost')
    chloe = person(app, Platform.MATRIX, "@chloe:localhost", "!r:localhost")
    text = await chloe.say("moi effacer")
    code = text.split("moi effacer ")[-1].strip()
    assert await count(app, PlatformIdentity) == 1
    assert "Vos données ont été effacées" in await chloe.say(f"moi effacer {code}")
    async with app.db.session() as session:
        names = (await session.scalars(select(Member.display_name))).all()
        identities = await session.scalar(select(func.count()).select_from(PlatformIdentity))
    assert "Chloé Maurin" not in names and identities == 0
    assert "Je ne connais pas encore votre compte" in await chloe.say("moi")


async def test_english_speakers_get_english(app: App, op: Speaker) -> None:
    await load_demo(app)
    await op.say('membre lier "Hugo Perrin" slack:UHUGO')
    hugo = person(app, Platform.SLACK, "UHUGO", "C1")
    assert "What you can do here" in await hugo.say("help")
    assert "Delegations of Cohorte Occitanie" in await hugo.say("delegation list")
    assert "C'est noté" in await hugo.say("moi langue fr")
    assert "Ce que vous pouvez faire ici" in await hugo.say("aide")
    async with app.db.session() as session:
        assert await session.scalar(select(Cohort.language)) == "fr"
