"""Which classes deploy names in RunSpecifiedTests: @IsTest classes with test methods only."""

from __future__ import annotations

from pathlib import Path

from jtel_sf.org.package import build_package, is_test_class

ROOT = Path(__file__).resolve().parents[1]


def test_a_quote_in_a_comment_does_not_hide_the_annotation() -> None:
    source = (
        "/**\n * @description the user's zone\n */\n"
        "@IsTest\nprivate class T {\n  @IsTest\n  static void a() {}\n}\n"
    )
    assert is_test_class(source)


def test_a_test_helper_without_test_methods_is_not_a_test_class() -> None:
    assert not is_test_class("@IsTest\npublic class Factory {\n  public static void make() {}\n}\n")
    assert is_test_class("@isTest\nprivate class Old {\n  static testMethod void a() {}\n}\n")
    assert not is_test_class("public class Prod {\n  // @IsTest static void a() {}\n}\n")


def test_the_shipped_test_classes_are_exactly_the_test_classes() -> None:
    classes = ROOT / "force-app" / "test" / "default" / "classes"
    expected = sorted(p.stem for p in classes.glob("*Test.cls"))
    assert build_package(ROOT / "force-app", "61.0").test_classes() == expected


def test_no_test_class_or_helper_stays_among_the_product_classes() -> None:
    product = ROOT / "force-app" / "main" / "default" / "classes"
    assert not [p.name for p in product.glob("*.cls") if "@istest" in p.read_text("utf-8").lower()]
