"""Invented command reference for Lanternfish's command line tool, lantern: one page per command
plus a configuration page, in the page shape of content.py.

As in real CLI references, the command pages share their option sections word for word (each
option is documented once, in OPTIONS, and repeated on every command that takes it; the
EVERY_COMMAND ones on all of them), and the
configuration page lists every option. Sharing option sections is not containing another page:
every page here is a real page. A print page that concatenates these pages (mdBook's print.html)
is an aggregate all the same.
"""

OPTIONS = {
    "archive": [
        ("p", "Default: https://archive.lanternfish.invalid/. Type: URL. The address of the shared tide "
              "archive that lantern reads surveys from and uploads them to. Point it at a private mirror when "
              "your harbour authority keeps its own copy, and keep the trailing slash so that paths resolve "
              "below it rather than beside it."),
    ],
    "station": [
        ("p", "Default: every station in the data folder. Type: name, repeatable. Limits the command to the "
              "named stations. Names are the ones written in each station.toml file, not the folder names, "
              "and an unknown name stops the command before any record is touched."),
        ("code", "bash", "lantern <command> --station north-cove --station south-pier"),
    ],
    "data-dir": [
        ("p", "Default: the folder named lanternfish-data in your home folder. Type: path. Where tide records, "
              "station files and survey results are kept. Every command that reads or writes records uses this "
              "folder, so two shells with different values see two separate sets of surveys."),
    ],
    "since": [
        ("p", "Default: none. Type: date or duration such as 2025-03-01 or 14d. Only records taken at or after "
              "this moment are considered. A duration counts back from now in the station's own time zone, "
              "which matters for gauges that sit across a date line from the machine running lantern."),
    ],
    "dry-run": [
        ("p", "Default: false. Type: boolean. Reports what the command would change without changing it: no "
              "record is written, moved or removed and nothing is sent to the archive. Commands that only read "
              "ignore it. Combine it with the json option to review a planned change in a script."),
    ],
    "json": [
        ("p", "Default: false. Type: boolean. Prints the result as one JSON document on standard output instead "
              "of aligned text columns. Messages meant for people still go to standard error, so a script can "
              "pipe the output straight into a parser without filtering anything first."),
    ],
    "offline": [
        ("p", "Default: false. Type: boolean. Never contacts a station or the archive; the command works only "
              "from records already in the data folder and from its local index of archive surveys. Useful on "
              "a boat with no signal, where waiting for every network timeout would take minutes."),
    ],
    "retries": [
        ("p", "Default: 3. Type: number. How many times a failed request to a station or to the archive is "
              "repeated before lantern gives up on it. The pause between attempts doubles each time, starting "
              "at two seconds, so five retries wait about a minute in all."),
    ],
    "units": [
        ("p", "Default: metric. Type: metric or imperial. The unit of water levels in printed results: "
              "millimetres and metres, or inches and feet. Stored records always keep millimetres; the option "
              "changes only what is shown and what goes into exported files."),
    ],
    "token": [
        ("p", "Default: the LANTERN_TOKEN environment variable. Type: string. The archive token that proves who "
              "is uploading or withdrawing a survey. Keep it out of shared configuration files; lantern never "
              "writes it to its own logs and refuses a token given on a line of a saved script."),
    ],
    "config-file": [
        ("p", "Default: lantern.toml in the data folder. Type: path. The settings file read before the command "
              "runs. A missing file is not an error, but a file that cannot be parsed stops every command with "
              "the line number of the first mistake, so one typo never leaves a gauge half configured."),
    ],
    "log-level": [
        ("p", "Default: notice. Type: silent, error, warn, notice or verbose. How much lantern tells you while "
              "it works. Errors are always printed unless the level is silent; verbose adds every request to a "
              "station or the archive with its duration, which helps when a slow gauge holds up a command."),
    ],
    "color": [
        ("p", "Default: true when standard output is a terminal. Type: boolean or always. Colours levels "
              "above the datum in blue and below it in amber. Set it to false for plain text, or to always to "
              "keep the colour codes when the output goes into a pager that understands them."),
    ],
    "visibility": [
        ("p", "Default: public. Type: public or harbour. Who may read an uploaded survey: anyone, or only "
              "accounts that belong to the same harbour authority as the uploader. Changing it later needs a "
              "new upload of the same survey label with the new value."),
    ],
}


EVERY_COMMAND = ["config-file", "log-level", "color"]


def _command(slug, title, synopsis, description, options):
    return (slug, title, [
        ("Synopsis", "synopsis", [("code", "bash", synopsis)]),
        ("Description", "description", [("p", text) for text in description]),
        # Options in one order on every page, as a generator writing them from one list would.
        *((f"--{name}", name, blocks) for name, blocks in OPTIONS.items() if name in options + EVERY_COMMAND),
    ])


PAGES = [
    _command("lantern-fetch", "lantern fetch", "lantern fetch [--station <name> ...] [--since <when>]",
             ["Downloads new readings from the harbour stations into the data folder, picking up where the "
              "previous fetch stopped. Readings already stored are never downloaded twice."],
             ["station", "data-dir", "since", "retries", "offline", "dry-run", "json", "archive", "units"]),
    _command("lantern-survey", "lantern survey", "lantern survey <label> [--station <name> ...]",
             ["Computes high and low water for a labelled survey from the stored readings, one row per tide."],
             ["station", "data-dir", "since", "units", "json"]),
    _command("lantern-search", "lantern search", "lantern search <words> [--station <name>]",
             ["Looks through the surveys published in the archive for the given words, best matches first."],
             ["archive", "station", "since", "retries", "offline", "json"]),
    _command("lantern-prune", "lantern prune", "lantern prune --since <when> [--dry-run]",
             ["Removes old raw readings from the data folder and keeps the computed tides, to save disk space."],
             ["data-dir", "since", "dry-run", "json"]),
    _command("lantern-publish", "lantern publish", "lantern publish <label> [--visibility harbour]",
             ["Uploads a finished survey to the archive under its label, together with the station files it "
              "used, so that other harbours can compare their tides with yours."],
             ["archive", "station", "data-dir", "token", "visibility", "dry-run", "json"]),
    ("lantern-config", "lantern configuration", [
        ("Where settings live", "where-settings-live", [
            ("p", "Every option of every command can also be set in the file lantern.toml in the data folder, "
                  "or in an environment variable named LANTERN_ followed by the option in capitals. A value on "
                  "the command line wins over the variable, which wins over the file."),
            ("code", "toml", "units = \"imperial\"\nretries = 5\nstation = [\"north-cove\"]"),
        ]),
        *((f"--{name}", name, blocks) for name, blocks in OPTIONS.items()),
    ]),
]
