"""Invented documentation content (the "Lanternfish" tide-gauge toolkit), shared by every
imitated generator. Each page: slug, title, sections of (heading, anchor, blocks).

Block kinds: ("p", text), ("code", lang, text), ("table", [header, *rows]), ("ul", [items]),
("screen", text) for terminal output that looks like Markdown.
Content never uses the chrome phrases listed in CHROME_PHRASES, so finding one in a chunk
means navigation leaked.
"""

PAGES = [
    ("installation", "Installing Lanternfish", [
        ("Requirements", "requirements", [
            ("p", "Lanternfish runs on any machine with Python 3.10 or newer and about forty megabytes of free "
                  "disk space. The gauge drivers are optional extras that pull in the serial port library."),
            ("ul", ["A writable data folder for the tide records.", "Network access to the harbour station, "
                    "or a recorded sample file.", "Optional: the serial driver for hardware gauges."]),
        ]),
        ("Installing the package", "installing-the-package", [
            ("p", "Install the toolkit with the package manager of your choice. The command below installs "
                  "the core library and the command line tool called lantern."),
            ("code", "bash", "pip install lanternfish\nlantern --version"),
            ("p", "Check that the tool answers with its version number before you continue."),
        ]),
        ("Upgrading", "upgrading", [
            ("p", "Upgrading keeps your stored surveys. Each release migrates the record format in place and "
                  "writes a backup copy called surveys.bak next to the original folder."),
        ]),
    ]),
    ("configuration", "Configuring stations", [
        ("The station file", "the-station-file", [
            ("p", "Every station is described by a short file named station.toml. It names the gauge, its "
                  "datum offset in millimetres and how often the level is sampled."),
            ("code", "toml", "[station]\nname = \"north-cove\"\ndatum_offset_mm = 412\nsample_every = \"60s\""),
        ]),
        ("Settings reference", "settings-reference", [
            ("table", [["Setting", "Default", "Meaning"],
                       ["name", "none", "Unique station name used in record files"],
                       ["datum_offset_mm", "0", "Offset added to every raw reading"],
                       ["sample_every", "60s", "Interval between two readings"]]),
            ("p", "Unknown settings stop the loader with a message that names the offending line."),
        ]),
        ("Shell comments in examples", "shell-comments", [
            ("p", "Terminal sessions in this manual show prompts and comments exactly as typed."),
            ("screen", "$ lantern check north-cove\n# checking the datum offset\n~~~~~~~~~~~~~~~~~~~~\n"
                       "level ok: 412 mm\n---\n> done in 0.2 s"),
        ]),
    ]),
    ("surveys", "Recording surveys", [
        ("Starting a survey", "starting-a-survey", [
            ("p", "A survey collects readings from one or more stations over a period of time. Start one with "
                  "the survey command and give it a memorable label."),
            ("code", "python", "from lanternfish import Survey\n\nsurvey = Survey(label=\"spring-tides\")\n"
                               "survey.add_station(\"north-cove\")\nsurvey.start()"),
        ]),
        ("Exporting readings", "exporting-readings", [
            ("p", "Readings export to comma separated files or to Parquet. Large surveys are written in "
                  "batches of ten thousand rows so that memory use stays flat."),
            ("ul", ["Comma separated values for spreadsheets.", "Parquet for analysis notebooks.",
                    "A compact binary format for archival storage."]),
        ]),
    ]),
    ("troubleshooting", "Troubleshooting gauges", [
        ("Readings drift", "readings-drift", [
            ("p", "A slow drift of several millimetres per week usually means the float chamber is silting up. "
                  "Flush the chamber with fresh water and recalibrate the datum offset afterwards."),
        ]),
        ("The gauge stops answering", "gauge-stops-answering", [
            ("p", "When the serial gauge stops answering, the driver retries three times with a growing pause "
                  "and then marks the station as silent in the survey log."),
            ("code", "text", "warning: station north-cove silent after 3 retries"),
            ("p", "Power cycling the gauge clears most silent states; a loose cable explains the rest."),
        ]),
    ]),
]

# Phrases that only chrome uses (sidebars, headers, footers, pagers, cookie banners).
CHROME_PHRASES = ["Skip to content", "Edit this page", "On this page", "Previous chapter", "Next chapter",
                  "Copyright 2025 Lanternfish Foundation", "Search the docs", "Toggle navigation",
                  "Changelog archive", "Community forum", "Accept cookies", "Table of Contents",
                  "Version 3.1.4", "Report an issue", "Privacy notice", "Quick search", "Back to top"]
SITE = "Lanternfish Manual"
