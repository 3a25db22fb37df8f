"""What the sketch engine understands in a prompt: the word tables, and `plan`, prompt to picture plan.

`plan(prompt)` is a pure function: the same prompt always gives the same `Plan`, whatever the seed.
- Subjects: a word (or a two-word phrase such as "ice cream") from `SUBJECT_WORDS` names a subject.
  Plurals are understood: a word not in the table is tried without "s", "es", or with "ies" made
  "y" (cats, boxes, bunnies); irregular plurals are listed. The first three subjects named, in the
  prompt's order, are drawn. A colour word right before a subject's word (one word may sit between:
  "a red sports car") colours that subject. "X on Y", where Y is a seat (`SEATS`), draws X on Y.
- Scenes: words from `SCENE_WORDS` set the backdrop (mountains, a skyline, water, a forest, night,
  a beach, snow, a desert, space, underwater). A prompt with a scene but no subject draws the
  scene's own subject (`SCENE_SUBJECT`): a beach gets a palm tree, space a planet.
- Fallback: a prompt with neither gets a sign lettered with its first two main words (`main_words`:
  no stop, colour or mood words), and an emblem whose shape, pattern and colours come from them.

`vocabulary_markdown()` gives the vocabulary as Markdown (docs/sketch.md holds it; see its markers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .palette import COLOUR_WORDS, MOOD_WORDS

# subject: the words that name it (plurals in -s, -es, -ies come free); grouped as the docs list them
CATEGORIES: dict[str, dict[str, tuple[str, ...]]] = {
    "Work and apps": {
        "checklist": ("check", "checklist", "todo", "todos", "task", "tasks", "list", "productivity", "planner"),
        "phone": ("phone", "app", "mobile", "smartphone", "ios", "android"),
        "laptop": ("laptop", "computer", "desktop", "dashboard", "website", "web", "saas", "analytics"),
        "cards": ("ui", "interface", "widget", "feed", "profile"),
    },
    "People": {
        "figure": ("person", "people", "man", "woman", "girl", "boy", "team", "user", "character", "hiker",
                   "men", "women", "child", "children", "kid", "friend", "family", "student", "human"),
    },
    "Animals": {
        "cat": ("cat", "kitten", "kitty", "feline", "tabby", "pussycat"),
        "dog": ("dog", "puppy", "pup", "doggo", "hound", "canine", "corgi", "labrador", "poodle", "terrier"),
        "bird": ("bird", "sparrow", "robin", "songbird", "finch", "bluebird", "parrot", "birdie"),
        "fish": ("fish", "goldfish", "koi", "clownfish", "salmon", "trout", "aquarium"),
        "horse": ("horse", "pony", "stallion", "mare", "foal", "equestrian"),
        "rabbit": ("rabbit", "bunny", "hare", "easter"),
        "butterfly": ("butterfly", "moth", "caterpillar"),
        "owl": ("owl", "owlet"),
        "penguin": ("penguin",),
        "turtle": ("turtle", "tortoise", "terrapin"),
    },
    "Food and drink": {
        "coffee": ("coffee", "espresso", "latte", "cappuccino", "mocha", "americano", "macchiato", "cafe",
                   "cup", "mug", "tea", "teacup", "cocoa"),
        "ramen": ("ramen", "noodle", "soup", "pho", "udon", "soba", "bowl", "broth"),
        "pizza": ("pizza", "pizzeria", "pepperoni", "margherita"),
        "cake": ("cake", "birthday", "cheesecake", "cupcake", "dessert", "pastry", "bakery"),
        "apple": ("apple", "fruit", "orchard"),
        "burger": ("burger", "hamburger", "cheeseburger", "fastfood", "hot dog"),
        "icecream": ("icecream", "ice cream", "gelato", "sundae", "cone"),
        "donut": ("donut", "doughnut"),
        "banana": ("banana",),
        "watermelon": ("watermelon", "melon"),
    },
    "Buildings and places": {
        "lighthouse": ("lighthouse", "beacon"),
        "house": ("house", "home", "cottage", "cabin", "hut", "bungalow", "farmhouse"),
        "castle": ("castle", "fortress", "palace", "kingdom", "fort"),
        "skyline": ("skyline", "skyscraper", "tower", "highrise"),
        "bridge": ("bridge",),
        "tent": ("tent", "camping", "campsite", "camp"),
        "windmill": ("windmill", "mill"),
    },
    "Vehicles": {
        "car": ("car", "automobile", "taxi", "suv", "sedan", "vehicle", "driving", "jeep"),
        "bus": ("bus", "minibus"),
        "bicycle": ("bicycle", "bike", "cycling", "biking"),
        "rocket": ("rocket", "spaceship", "spacecraft", "launch", "startup"),
        "sailboat": ("boat", "sailboat", "sailing", "yacht", "ship", "sail"),
        "plane": ("plane", "airplane", "aeroplane", "aircraft", "jet", "flight", "flying", "airline"),
        "train": ("train", "railway", "railroad", "locomotive", "tram"),
        "balloon": ("balloon", "hot air balloon"),
    },
    "Nature and weather": {
        "trees": ("tree", "trees", "forest", "woods", "park", "garden", "nature", "pine"),
        "mountain": ("mountain", "peak", "summit", "alps"),
        "sun": ("sun", "sunshine", "sunny", "summer", "sunlight"),
        "moon": ("moon", "crescent", "lunar", "moonlit"),
        "cloud": ("cloud", "cloudy", "overcast", "weather"),
        "rain": ("rain", "rainy", "raining", "raindrop", "drizzle"),
        "lightning": ("lightning", "storm", "thunder", "thunderstorm", "stormy", "bolt"),
        "snowflake": ("snowflake", "snowfall", "snowing", "frost", "flake"),
        "snowman": ("snowman", "snowmen"),
        "rainbow": ("rainbow",),
        "flower": ("flower", "tulip", "daisy", "sunflower", "blossom", "bouquet", "floral", "bloom", "petal"),
        "cactus": ("cactus", "cacti", "succulent"),
        "palm": ("palm", "palm tree", "tropical", "island", "coconut", "oasis"),
        "wave": ("wave", "surf", "surfing", "tide", "tsunami"),
        "leaf": ("leaf", "leaves", "plant", "houseplant", "sprout", "seedling", "eco"),
        "mushroom": ("mushroom", "fungus", "fungi", "toadstool"),
        "planet": ("planet", "saturn", "jupiter", "mars", "cosmos", "astronomy"),
    },
    "Objects": {
        "book": ("book", "novel", "library", "reading", "textbook", "diary", "journal"),
        "lamp": ("lamp", "lampshade", "lighting"),
        "clock": ("clock", "time", "alarm", "deadline", "hour"),
        "camera": ("camera", "photography", "photographer", "selfie", "lens"),
        "key": ("key", "keychain"),
        "umbrella": ("umbrella", "parasol"),
        "guitar": ("guitar", "music", "musical", "musician", "song", "concert", "acoustic"),
        "headphones": ("headphones", "headphone", "headset", "earphones", "podcast", "audio", "dj"),
        "gift": ("gift", "present", "giftbox", "surprise", "reward"),
        "sofa": ("sofa", "couch", "settee", "loveseat", "lounge"),
        "chair": ("chair", "armchair", "seat", "stool"),
        "table": ("table", "desk"),
        "lightbulb": ("lightbulb", "light bulb", "bulb", "idea", "innovation", "creative", "creativity",
                      "inspiration"),
        "trophy": ("trophy", "award", "winner", "prize", "champion", "achievement"),
        "crown": ("crown", "king", "queen", "royal", "premium", "vip", "prince", "princess"),
        "pencil": ("pencil", "pen", "writing", "crayon"),
    },
    "Icons": {
        "heart": ("heart", "love", "favorite", "favourite", "valentine", "romance", "romantic"),
        "star": ("star", "rating", "review"),
        "checkmark": ("checkmark", "tick", "done", "complete", "completed", "success", "approved", "verified"),
        "bell": ("bell", "notification", "alert", "reminder"),
        "chat": ("chat", "message", "messaging", "messenger", "comment", "conversation", "speech", "bubble",
                 "sms", "chatbot"),
        "lock": ("lock", "padlock", "security", "secure", "privacy", "private", "password"),
        "gear": ("gear", "settings", "cog", "cogwheel", "engineering", "configuration"),
        "envelope": ("envelope", "email", "mail", "letter", "inbox", "newsletter"),
        "calendar": ("calendar", "date", "schedule", "event", "appointment", "agenda"),
        "chart": ("chart", "graph", "stats", "statistics", "growth", "report", "metrics", "revenue", "sales",
                  "kpi"),
        "upload": ("upload", "download", "cloud upload", "backup", "sync", "storage"),
        "search": ("search", "magnifier", "magnifying", "seo", "discover"),
        "pin": ("pin", "location", "map", "marker", "gps", "navigation", "destination"),
    },
}
SUBJECT_WORDS: dict[str, tuple[str, ...]] = {name: words for group in CATEGORIES.values() for name, words in group.items()}

# scene: the words that set it; `SCENE_SUBJECT` is drawn when a prompt names a scene and no subject
SCENE_WORDS: dict[str, tuple[str, ...]] = {  # the specific scenes first: a prompt's first word picks its subject
    "beach": ("beach", "sand", "sandy", "shore", "seaside", "tropical", "island"),
    "snow": ("snow", "snowy", "winter", "ski", "skiing", "arctic", "snowman"),
    "desert": ("desert", "dune", "dunes", "sahara", "cactus", "cacti"),
    "space": ("space", "galaxy", "outer", "astronaut", "cosmos", "universe"),
    "underwater": ("underwater", "undersea", "reef", "aquarium", "diving", "scuba"),
    "mountains": ("mountain", "mountains", "peak", "peaks", "alps", "hiking", "summit", "snow"),
    "city": ("city", "skyline", "town", "buildings", "building", "urban", "downtown", "street"),
    "water": ("ocean", "sea", "water", "beach", "lake", "waves", "wave", "river", "coast", "boat"),
    "forest": ("forest", "woods", "pine", "pines", "trees", "jungle", "nature", "park"),
    "night": ("night", "moon", "midnight", "stars", "starry", "moonlight", "evening", "space", "galaxy"),
}
SCENE_SUBJECT = {"mountains": "mountain", "city": "skyline", "water": "sailboat", "forest": "trees",
                 "night": "moon", "beach": "palm", "snow": "snowman", "desert": "cactus", "space": "planet",
                 "underwater": "fish"}
SEATS = ("sofa", "chair", "table")  # what "X on Y" can put X on
ON_WORDS = ("on", "onto", "upon", "atop")
MAX_SUBJECTS = 3

# words that never become the fallback's lettering
STOP_WORDS = frozenset("""
a an the of on in at with for and or to by from into over under near above below behind beside between
is are was be being it its this that these those my your our their his her some any very so as up out
image images picture pictures photo photos illustration illustrations drawing render rendering art artwork
style styled hero banner background backdrop wallpaper poster icon icons logo cute beautiful pretty simple
flat vector minimalist realistic detailed high quality hd k scene view design graphic graphics shot
made make showing show shows featuring feature lots full big small little tiny large huge new old
""".split())

PHRASES = {tuple(w.split()): name for name, words in SUBJECT_WORDS.items() for w in words if " " in w}
WORD_SUBJECT = {w: name for name, words in SUBJECT_WORDS.items() for w in words if " " not in w}
WORD_SCENES: dict[str, list[str]] = {}
for _scene, _words in SCENE_WORDS.items():
    for _w in _words:
        WORD_SCENES.setdefault(_w, []).append(_scene)


@dataclass(frozen=True)
class Pick:
    """One subject to draw: its name, the colour word that colours it (if any), what it sits on (if any)."""

    name: str
    colour: str | None = None
    on: str | None = None  # the name of the seat (another pick of the plan) it is drawn on


@dataclass(frozen=True)
class Plan:
    subjects: tuple[Pick, ...]  # at most MAX_SUBJECTS; empty means the fallback sign
    scenes: frozenset[str]
    lettering: tuple[str, ...]  # the fallback's words (up to two), empty unless there are no subjects


def words_of(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+", prompt.lower())


def subject_of(word: str) -> str | None:
    """The subject a single word names, plurals included, else None."""
    for form in (word, word[:-3] + "y" if word.endswith("ies") else "", word[:-2] if word.endswith("es") else "",
                 word[:-1] if word.endswith("s") and not word.endswith("ss") else ""):
        if form and form in WORD_SUBJECT:
            return WORD_SUBJECT[form]
    return None


def main_words(words: list[str]) -> list[str]:
    """The prompt's own words, in order, less stop words, colour and mood words."""
    return [w for w in words if w not in STOP_WORDS and w not in COLOUR_WORDS and w not in MOOD_WORDS and len(w) > 1]


def plan(prompt: str) -> Plan:
    """What to draw for a prompt (module docstring)."""
    words = words_of(prompt)
    found: list[tuple[str, int, int]] = []  # subject, first word, last word
    i = 0
    while i < len(words):
        name, end = None, i + 1
        for n in (3, 2):  # phrases first: "hot air balloon", "ice cream"
            if i + n <= len(words) and tuple(words[i:i + n]) in PHRASES:
                name, end = PHRASES[tuple(words[i:i + n])], i + n
                break
        name = name or subject_of(words[i])
        if name is not None and name not in (f[0] for f in found):
            found.append((name, i, end - 1))
        i = end
    found = found[:MAX_SUBJECTS]
    scenes = frozenset(scene for w in words for scene in WORD_SCENES.get(w, ()))
    picks = [Pick(name, _colour_before(words, first, found), _seat(words, k, found))
             for k, (name, first, _) in enumerate(found)]
    if not picks and scenes:
        first_scene = next(scene for w in words for scene in WORD_SCENES.get(w, ()))
        picks = [Pick(SCENE_SUBJECT[first_scene])]
    lettering = tuple(main_words(words)[:2]) if not picks else ()
    return Plan(tuple(picks), scenes, lettering)


def _colour_before(words: list[str], first: int, found) -> str | None:
    """A colour word one or two words before a subject's first word, with no other subject between."""
    starts_ends = {i for _, a, b in found for i in range(a, b + 1)}
    for j in (first - 1, first - 2):
        if j < 0 or j in starts_ends:
            return None
        if words[j] in COLOUR_WORDS:
            return words[j]
    return None


def _seat(words: list[str], k: int, found) -> str | None:
    """The seat pick k sits on: the next subject, when it is a seat and only an "on" word and others sit between."""
    if k + 1 >= len(found) or found[k + 1][0] not in SEATS:
        return None
    between = words[found[k][2] + 1: found[k + 1][1]]
    return found[k + 1][0] if any(w in ON_WORDS for w in between) else None


def vocabulary_markdown() -> str:
    """The subjects and scenes, with their words, as the Markdown lists docs/sketch.md carries."""
    lines = []
    for group, subjects in CATEGORIES.items():
        lines += [f"### {group}", ""]
        lines += [f"- **{name}**: {', '.join(words)}" for name, words in subjects.items()]
        lines.append("")
    lines += ["### Scenes", ""]
    lines += [f"- **{scene}** (alone: a {SCENE_SUBJECT[scene]}): {', '.join(words)}" for scene, words in SCENE_WORDS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(vocabulary_markdown(), end="")
