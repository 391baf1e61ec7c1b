# slowai-go: every target installs what it needs and skips what is already there.
#
#   make lessons          set up, execute every notebooks/NN_*.ipynb, write lessons/*.html
#   make lessons QUICK=1  the same in quick mode (SLOWAI_QUICK=1: fewer steps, smaller data)
#   make lessons ONLY=13_ only the notebooks whose name matches the regular expression
#   make check-lessons    check the rendered pages: no failed cell, enough images (CI)
#   make test             go vet + go test for the whole module
#   make setup            Jupyter, GoNB kernel, ONNX Runtime library, Fashion-MNIST (see README.md)
#   make notebook         Jupyter in notebooks/, to edit lessons (NOTEBOOK_ARGS="--no-browser --port=8888")
#   make data             fill the data cache (SLOWAI_DATA, default data/)
#   make weights          download the Stable Diffusion weights into the Hugging Face cache
#   make bench            benchmarks of the library packages

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Go from /usr/local/go if it is not on PATH already, and the tools `go install` puts in GOBIN.
ifneq ($(wildcard /usr/local/go/bin/go),)
export PATH := /usr/local/go/bin:$(PATH)
endif
GOBIN_DIR := $(shell PATH="$(PATH)"; b=$$(go env GOBIN 2>/dev/null); [ -n "$$b" ] || b=$$(go env GOPATH 2>/dev/null)/bin; echo "$$b")
export PATH := $(GOBIN_DIR):$(PATH)

# Debian's Jupyter lives in /usr/bin; a pyenv or virtualenv python earlier on PATH must not hide it.
JUPYTER ?= $(if $(wildcard /usr/bin/jupyter-nbconvert),/usr/bin/jupyter,jupyter)
export JUPYTER

ifeq ($(QUICK),1)
export SLOWAI_QUICK := 1
endif
LESSON_TIMEOUT ?= 45m
ONLY ?=

.PHONY: help setup test lessons check-lessons notebook data bench weights

help:
	@sed -n 's/^#   //p' Makefile

setup:
	@bash slowai/tools/setup.sh all

test:
	go vet ./...
	go test ./...

lessons: setup
	go run ./slowai/cmd/lessons -timeout $(LESSON_TIMEOUT) $(if $(ONLY),-run '$(ONLY)')

# What CI runs after `make lessons`: every page rendered, with its images and no failed cell.
check-lessons:
	go run ./slowai/cmd/lessons -check $(if $(ONLY),-run '$(ONLY)')

# Jupyter refuses to run as root unless told; the course machines are root-only.
notebook: setup
	cd notebooks && $(JUPYTER) notebook $(if $(filter 0,$(shell id -u)),--allow-root) $(NOTEBOOK_ARGS)

data:
	go run ./slowai/cmd/fetchdata

bench:
	go test -run '^$$' -bench . ./slowai/...

weights:
	go run ./slowai/cmd/sd weights
