"""The report as CSV (`?format=csv`): the very figures of the JSON, one per row, in a long format
that any spreadsheet or the `csv` module reads without knowing the report's shape:

    section,group,key,value
    calls,,total,120
    calls,by_classification,prank,31
    incidents,by_kecamatan,36.72.08,9
    agencies,DPKP,ack_seconds_median,42.5
    by_hour,7,calls,11

`section` is the JSON's top-level key. A figure directly in a section has an empty `group`;
one in a map of the section (`by_classification`, `by_category`, …) has the map's name; one
of a list (`agencies`, `by_hour`) has the item's name (its agency code, its hour). A null
(no data) is an empty value.
"""

import csv
import io

from rest_framework.renderers import BaseRenderer

HEADER = ("section", "group", "key", "value")
# What names an item of a list section.
ITEM_NAMES = {"agencies": "code", "by_hour": "hour"}


def long_rows(report):
    for section, content in report.items():
        if isinstance(content, list):
            yield from item_rows(section, content, ITEM_NAMES[section])
        else:
            yield from figure_rows(section, content)


def item_rows(section, items, name):
    for item in items:
        yield from ((section, item[name], key, value) for key, value in item.items() if key != name)


def figure_rows(section, figures):
    for key, value in figures.items():
        if isinstance(value, dict):
            yield from ((section, key, inner_key, inner) for inner_key, inner in value.items())
        else:
            yield section, "", key, value


class ReportCSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(HEADER)
        writer.writerows(long_rows(data))  # csv writes None as an empty field
        return text.getvalue().encode(self.charset)
