# The two commands a new user needs: `make run` and `make test` (CONTRACT §1).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: run test lint migrate bench-webhook clean

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(PY) scripts/devstack.py run

test: $(STAMP)
	$(PY) scripts/devstack.py test $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

bench-webhook: $(STAMP)
	$(PY) bench/webhook.py $(BENCH_ARGS)

clean:
	rm -rf var staticfiles

# Translations (needs GNU gettext): extract the English source strings into locale/{id,en},
# then compile. Translate the empty msgstr in locale/id/LC_MESSAGES/*.po between two runs;
# the .mo files are committed so a machine without gettext still works.
I18N_ENV := DJANGO_DEBUG=1 DISPATCH_DEMO_ENV_FILE=
I18N_IGNORE := --ignore=.venv --ignore=staticfiles --ignore=var
.PHONY: messages
messages: $(STAMP)
	$(I18N_ENV) $(PY) manage.py makemessages -l id -l en $(I18N_IGNORE) --ignore=tests --ignore=bench
	$(I18N_ENV) $(PY) manage.py makemessages -d djangojs -l id -l en $(I18N_IGNORE) --ignore=node_modules --ignore=static/vendor
	$(I18N_ENV) $(PY) manage.py compilemessages --ignore=.venv
