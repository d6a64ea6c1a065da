"""Write a DICOM ECG waveform file with pydicom, for round-trip and conformance tests.

One multiplex group labelled RHYTHM, signed 16-bit samples (SS) at a resolution of 1 uV per
count (ChannelSensitivity 1 uV, correction factor 1, baseline 0), so amplitudes up to
+-32.767 mV are stored within 0.5 uV. Leads are coded with the MDC codes of DICOM CID 3001
("2:1" = Lead I, ...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from desktop_app.ecg import normalise_lead_name

TWELVE_LEAD_ECG_STORAGE = "1.2.840.10008.5.1.4.1.1.9.1.1"
GENERAL_ECG_STORAGE = "1.2.840.10008.5.1.4.1.1.9.1.2"
# MDC lead numbers (DICOM CID 3001, code scheme MDC, value "2:N").
_MDC = {"I": 1, "II": 2, "V1": 3, "V2": 4, "V3": 5, "V4": 6, "V5": 7, "V6": 8,
        "III": 61, "aVR": 62, "aVL": 63, "aVF": 64}
UV_PER_COUNT = 1.0


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def write_dicom(
    signal_mv: np.ndarray,
    fs_hz: float,
    path: str | Path,
    lead_names: list[str] | tuple[str, ...],
) -> Path:
    """Write leads as a DICOM ECG waveform (one multiplex group, 16-bit, 1 uV per count).

    Parameters
    ----------
    signal_mv : shape (n_leads, n_samples), millivolts. Rows that are all NaN (missing leads)
        are left out; other non-finite values are an error.
    fs_hz : sampling rate in Hz.
    path : the ``.dcm`` file to write.
    lead_names : one standard lead name per row (any spelling ``normalise_lead_name`` knows).

    Returns
    -------
    Path
        ``path``. The SOP class is 12-Lead ECG Waveform Storage when the recording fits that
        IOD's limits (PS3.3 A.34.3.4: at most 13 channels, 200-1000 Hz, at most 16 s), otherwise
        General ECG Waveform Storage.

    Raises
    ------
    ValueError
        Shape and names disagree, a name is not a standard lead, a lead has NaN, or a value
        does not fit 16 bits at 1 uV per count.
    """
    sig = np.asarray(signal_mv, dtype=np.float64)
    if sig.ndim != 2 or sig.shape[0] != len(lead_names):
        raise ValueError(f"signal shape {sig.shape} does not match {len(lead_names)} lead names")
    rows, names = [], []
    for name, row in zip(lead_names, sig):
        if np.all(np.isnan(row)):
            continue
        if not np.all(np.isfinite(row)):
            raise ValueError(f"lead {name} has non-finite samples")
        std = normalise_lead_name(name)
        if std is None:
            raise ValueError(f"{name!r} is not one of the 12 standard leads")
        rows.append(row)
        names.append(std)
    counts = np.rint(np.stack(rows) * 1000.0 / UV_PER_COUNT)
    if np.abs(counts).max() > np.iinfo(np.int16).max:
        raise ValueError("amplitudes beyond +-32.767 mV do not fit 16 bits at 1 uV per count")
    n_ch, n = counts.shape
    fits_12_lead = n_ch <= 13 and 200.0 <= fs_hz <= 1000.0 and n / fs_hz <= 16.0
    sop_class = TWELVE_LEAD_ECG_STORAGE if fits_12_lead else GENERAL_ECG_STORAGE

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "ECG"
    ds.PatientName = "Test^Roundtrip"
    ds.PatientID = "TEST"
    ds.PatientSex = "O"
    ds.ContentDate = "20000101"
    ds.ContentTime = "120000"

    group = Dataset()
    group.MultiplexGroupLabel = "RHYTHM"
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = n_ch
    group.NumberOfWaveformSamples = n
    group.SamplingFrequency = f"{float(fs_hz):g}"
    channels = []
    for name in names:
        ch = Dataset()
        ch.ChannelSourceSequence = [_code(f"2:{_MDC[name]}", "MDC", f"Lead {name}")]
        ch.ChannelSensitivity = f"{UV_PER_COUNT:g}"
        ch.ChannelSensitivityUnitsSequence = [_code("uV", "UCUM", "microvolt")]
        ch.ChannelSensitivityCorrectionFactor = "1"
        ch.ChannelBaseline = "0"
        ch.ChannelSampleSkew = "0"
        ch.WaveformBitsStored = 16
        channels.append(ch)
    group.ChannelDefinitionSequence = channels
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    # Interleaved by sample: C1S1, C2S1, ..., CnS1, C1S2, ... (PS3.3 C.10.9.1.7).
    group.WaveformData = counts.T.astype("<i2").tobytes()
    ds.WaveformSequence = [group]

    path = Path(path)
    if int(pydicom.__version__.split(".")[0]) >= 3:
        ds.save_as(path, enforce_file_format=True)
    else:
        ds.save_as(path, write_like_original=False)
    return path
