"""Write pdf/home-network-handbook.pdf, the sample corpus's PDF (three pages of real text).

Run once by hand (`python corpora/make_pdf.py`, needs fpdf2); the PDF is committed so that the
demo needs nothing but ragindex.
"""

from pathlib import Path

from fpdf import FPDF

PAGES = [
    (
        "1. Setting up the router",
        "Connect the router's WAN port to the modem and a laptop to one of the LAN ports. "
        "Open the administration page at the address printed on the label, usually "
        "192.168.1.1, and change the default administrator password before anything else. "
        "Update the firmware: manufacturers fix security holes in it several times a year.",
    ),
    (
        "2. Choosing a Wi-Fi channel",
        "In the 2.4 GHz band only channels 1, 6 and 11 do not overlap, so pick whichever of "
        "the three your neighbours use least. The 5 GHz band has many more channels and less "
        "interference, but its signal passes walls less well. Use WPA3, or WPA2 with AES if "
        "some devices are older, and never WEP.",
    ),
    (
        "3. Keeping a backup of the configuration",
        "Export the router's configuration file after every change and keep it with your "
        "other backups. After a factory reset, restoring the file brings back the network "
        "names, passwords, port forwards and reserved addresses in one step.",
    ),
]


def main() -> None:
    pdf = FPDF()
    pdf.set_title("Home network handbook")
    for title, body in PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 7, body)
    target = Path(__file__).parent / "pdf" / "home-network-handbook.pdf"
    pdf.output(str(target))


if __name__ == "__main__":
    main()
