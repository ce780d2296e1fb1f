"""Image privacy: faces (OpenCV Haar cascade), readable text (RapidOCR, ONNX models shipped in its wheel) and
PII in that text (Microsoft presidio's pattern recognizers: e-mail, phone, credit card with Luhn check, US SSN,
IBAN with checksum, IP address). All offline.

Score: 100, minus 30 per face (at most 60), 10 when readable text is found, 40 per PII finding (at most 80);
never below 0. `passed` means no face and no PII (text alone is reported as an issue of severity "low").
"""

from __future__ import annotations

import re
import threading
from typing import Any

import numpy as np

FACE_PENALTY, FACE_CAP = 30, 60
TEXT_PENALTY = 10
PII_PENALTY, PII_CAP = 40, 80
OCR_MIN_CONFIDENCE = 0.5
PII_MIN_SCORE = 0.4
PII_ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "IP_ADDRESS")

_lock = threading.Lock()
_cache: dict[str, Any] = {}


def _face_cascade():
    import cv2

    with _lock:
        if "faces" not in _cache:
            _cache["faces"] = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        return _cache["faces"]


def _ocr():
    with _lock:
        if "ocr" not in _cache:
            from rapidocr_onnxruntime import RapidOCR

            _cache["ocr"] = RapidOCR()
        return _cache["ocr"]


def _recognizers() -> list:
    with _lock:
        if "pii" not in _cache:
            # presidio's e-mail check asks tldextract for the public-suffix list; offline, use the snapshot that
            # ships inside tldextract instead of trying the network on every process start
            import tldextract

            tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())
            from presidio_analyzer.predefined_recognizers import (CreditCardRecognizer, EmailRecognizer,
                                                                  IbanRecognizer, IpRecognizer, PhoneRecognizer,
                                                                  UsSsnRecognizer)

            _cache["pii"] = [EmailRecognizer(), PhoneRecognizer(supported_regions=("US", "GB", "DE", "FR", "IN")),
                             CreditCardRecognizer(), UsSsnRecognizer(), IbanRecognizer(), IpRecognizer()]
        return _cache["pii"]


def detect_faces(rgb: np.ndarray) -> list[list[int]]:
    """Boxes [x, y, w, h] of frontal faces."""
    import cv2

    g = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    min_side = max(20, min(g.shape) // 20)
    boxes = _face_cascade().detectMultiScale(g, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
    return [[int(v) for v in b] for b in (boxes if len(boxes) else [])]


def read_text(rgb: np.ndarray) -> list[dict[str, Any]]:
    """Lines of text RapidOCR reads with confidence >= OCR_MIN_CONFIDENCE: [{text, confidence, box}]."""
    h, w = rgb.shape[:2]
    image = rgb
    if min(h, w) < 64:  # the detector needs some pixels: upscale tiny images
        import cv2

        f = 64 / min(h, w)
        image = cv2.resize(rgb, (int(w * f), int(h * f)), interpolation=cv2.INTER_CUBIC)
    result, _ = _ocr()(np.ascontiguousarray(image[:, :, ::-1]))  # RapidOCR takes BGR like OpenCV
    lines = []
    for box, text, conf in result or []:
        text = str(text).strip()
        if float(conf) >= OCR_MIN_CONFIDENCE and len(re.sub(r"\W", "", text)) >= 2:
            lines.append({"text": text, "confidence": round(float(conf), 4),
                          "box": [[round(float(x), 1), round(float(y), 1)] for x, y in box]})
    return lines


def _mask(value: str) -> str:
    keep = 2 if len(value) > 6 else 1
    return value[:keep] + "*" * max(1, len(value) - 2 * keep) + value[-keep:]


def find_pii(lines: list[str]) -> list[dict[str, Any]]:
    """PII findings in the text lines: [{entity, text (masked), score, line}], overlaps resolved by score."""
    findings: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        variants = {line, re.sub(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", " ", line)}  # OCR drops spaces
        hits: list[tuple[int, int, str, float, str]] = []
        for text in variants:
            for r in _recognizers():
                for x in r.analyze(text, entities=r.supported_entities, nlp_artifacts=None):
                    if x.score >= PII_MIN_SCORE and x.entity_type in PII_ENTITIES:
                        hits.append((x.start, x.end, x.entity_type, float(x.score), text[x.start:x.end]))
        chosen: list[tuple[int, int, str, float, str]] = []
        seen_values: set[tuple[str, str]] = set()
        for hit in sorted(hits, key=lambda h: (-h[3], -(h[1] - h[0]))):
            value_key = (hit[2], re.sub(r"\s", "", hit[4]))
            if value_key in seen_values or any(_same_span(hit, c) for c in chosen):
                continue
            seen_values.add(value_key)
            chosen.append(hit)
        findings += [{"entity": e, "text": _mask(v), "score": round(s, 3), "line": i, "_value": v}
                     for _, _, e, s, v in chosen]
    return findings


def redact(line: str, values: list[str]) -> str:
    """The line with every PII value masked (matched ignoring whitespace, as OCR spacing varies)."""
    for v in sorted(values, key=len, reverse=True):
        pattern = r"\s*".join(re.escape(c) for c in re.sub(r"\s", "", v))
        line = re.sub(pattern, lambda m: _mask(m.group(0)), line)
    return line


def _same_span(a: tuple, b: tuple) -> bool:
    """Whether two hits cover the same characters (compared without whitespace, as variants differ in it)."""
    return re.sub(r"\s", "", a[4]) in re.sub(r"\s", "", b[4]) or re.sub(r"\s", "", b[4]) in re.sub(r"\s", "", a[4])


def assess(rgb: np.ndarray, check_faces: bool = True, check_text: bool = True,
           check_pii: bool = True) -> dict[str, Any]:
    """The documented privacy result of one image (without image_path)."""
    issues: list[dict[str, Any]] = []
    faces = detect_faces(rgb) if check_faces else []
    if faces:
        issues.append({"type": "face", "severity": "high", "count": len(faces), "boxes": faces,
                       "message": f"{len(faces)} face(s) detected"})
    lines = read_text(rgb) if (check_text or check_pii) else []
    pii = find_pii([ln["text"] for ln in lines]) if check_pii and lines else []
    if check_text and lines:
        texts = [redact(ln["text"], [p["_value"] for p in pii if p["line"] == i]) for i, ln in enumerate(lines)]
        issues.append({"type": "text", "severity": "low", "count": len(lines), "text": texts,
                       "message": f"{len(lines)} line(s) of readable text (PII masked)"})
    for p in pii:
        issues.append({"type": "pii", "severity": "high", "entity": p["entity"], "text": p["text"],
                       "score": p["score"], "message": f"{p['entity']} in the image's text"})
    score = 100 - min(FACE_CAP, FACE_PENALTY * len(faces)) - (TEXT_PENALTY if lines and check_text else 0) \
        - min(PII_CAP, PII_PENALTY * len(pii))
    return {
        "privacy_score": max(0, score),
        "faces_detected": len(faces),
        "text_detected": bool(lines),
        "pii_detected": bool(pii),
        "issues": issues,
        "passed": not faces and not pii,
        "checks": {"faces": check_faces, "text": check_text, "pii": check_pii},
    }
