# Two entry points: `make report` (verification study + PDF) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: report test quick-report install clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,diffusers,cluster]'
	touch $(STAMP)

install: $(STAMP)

report: $(STAMP)
	$(PY) -m seeds_verify.convergence --report --out reports

quick-report: $(STAMP)
	$(PY) -m seeds_verify.convergence --quick --report --out reports

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) reports/*.pdf reports/*.png reports/*.json
